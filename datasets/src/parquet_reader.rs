//! Reading records from Parquet, the format Hugging Face data sets are
//! distributed in, row by row through the same record parsers and the same
//! strict/lenient reporting as JSONL. Each row becomes a JSON object (lists
//! become arrays, structs objects, nulls null) and is parsed as type `T`;
//! a bad row is reported as `file:row: field: reason` (1-based row number in
//! [`BadRecord::line`]). Compression: uncompressed and snappy (the default
//! of `pyarrow` and Hugging Face `datasets`).

use std::fs::File;
use std::marker::PhantomData;
use std::path::Path;

use parquet::file::reader::SerializedFileReader;
use parquet::record::reader::RowIter;

use crate::error::ReadError;
use crate::jsonl::{Parsed, ReadOptions, ReadReport};
use crate::records::JsonRecord;

/// Streams typed records from a Parquet file; see the module doc.
pub struct ParquetReader<T> {
    name: String,
    rows: RowIter<'static>,
    opts: ReadOptions,
    report: ReadReport,
    done: bool,
    _record: PhantomData<fn() -> T>,
}

fn io_error(e: parquet::errors::ParquetError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

impl<T: JsonRecord> ParquetReader<T> {
    /// Opens `path` and reads its footer (a file that is not Parquet fails here).
    pub fn open(path: impl AsRef<Path>, opts: ReadOptions) -> Result<Self, ReadError> {
        let path = path.as_ref();
        let open_err = |source| ReadError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_err)?;
        let reader = SerializedFileReader::new(file).map_err(|e| open_err(io_error(e)))?;
        Ok(Self {
            name: path.display().to_string(),
            rows: reader.into_iter(),
            opts,
            report: ReadReport::default(),
            done: false,
            _record: PhantomData,
        })
    }

    /// Counts and bad rows so far (`lines` counts rows).
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    /// Consumes the reader, returning its report.
    pub fn into_report(self) -> ReadReport {
        self.report
    }
}

impl<T: JsonRecord> Iterator for ParquetReader<T> {
    type Item = Result<Parsed<T>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let row_no = self.report.lines + 1;
            let row = match self.rows.next() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(ReadError::Io {
                        file: self.name.clone(),
                        line: row_no,
                        source: io_error(e),
                    }));
                }
                Some(Ok(row)) => row,
            };
            self.report.lines = row_no;
            let text = row.to_json_value().to_string();
            let parsed = T::from_json_str(&text);
            if let Some(item) = self
                .report
                .settle(&self.name, row_no, parsed, self.opts.mode)
            {
                self.done = item.is_err();
                return Some(item);
            }
        }
        None
    }
}

/// Reads a whole Parquet file: the good records and the report.
pub fn read_parquet<T: JsonRecord>(
    path: impl AsRef<Path>,
    opts: ReadOptions,
) -> Result<(Vec<Parsed<T>>, ReadReport), ReadError> {
    crate::jsonl::drain(
        ParquetReader::<T>::open(path, opts)?,
        ParquetReader::into_report,
    )
}
