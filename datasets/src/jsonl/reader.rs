//! The JSONL reader: an iterator of typed records with a running report.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use serde::Serialize;

use super::lines::{LineRead, next_line};
use crate::error::{BadRecord, FieldError, ReadError};
use crate::records::JsonRecord;

/// What to do with a bad record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Stop at the first bad record with [`ReadError::Record`]. The default.
    #[default]
    Strict,
    /// Skip bad records, count them and keep each one in [`ReadReport::bad`].
    Lenient,
}

/// Reader settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Strict or lenient. Default: [`Mode::Strict`].
    pub mode: Mode,
    /// Longest accepted line in bytes; a longer line is a bad record (skipped
    /// without being held in memory). Default: 64 MiB.
    pub max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Strict,
            max_line_bytes: 64 << 20,
        }
    }
}

impl ReadOptions {
    /// Default options in lenient mode.
    pub fn lenient() -> Self {
        Self {
            mode: Mode::Lenient,
            ..Self::default()
        }
    }
}

/// Counts and bad records seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadReport {
    /// Lines read, including blank and bad ones.
    pub lines: u64,
    /// Records delivered.
    pub records: u64,
    /// Blank (whitespace-only) lines, which hold no record and are skipped.
    pub blank: u64,
    /// Every bad record, in file order.
    pub bad: Vec<BadRecord>,
}

impl ReadReport {
    /// Counts one parsed record, or keeps one bad record. Returns what the reader
    /// yields now: the record, the error that ends a strict read, or `None` when a
    /// lenient read skips the record and reads on.
    pub(crate) fn settle<T>(
        &mut self,
        file: &str,
        line: u64,
        parsed: Result<T, FieldError>,
        mode: Mode,
    ) -> Option<Result<Parsed<T>, ReadError>> {
        match parsed {
            Ok(record) => {
                self.records += 1;
                Some(Ok(Parsed { line, record }))
            }
            Err(e) => {
                let bad = BadRecord::at(file.to_string(), line, e);
                tracing::debug!(target: "datasets::read", "{bad}");
                self.bad.push(bad.clone());
                (mode == Mode::Strict).then_some(Err(ReadError::Record(bad)))
            }
        }
    }
}

/// A record with the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// 1-based line number.
    pub line: u64,
    /// The record.
    pub record: T,
}

/// Streams typed records from a JSONL file (plain or gzip).
///
/// Yields `Ok(Parsed)` per good record. In strict mode the first bad record
/// ends iteration with `Err(ReadError::Record)`; in lenient mode bad records
/// are logged, kept in [`JsonlReader::report`] and skipped. An I/O error
/// (including a corrupt gzip stream) always ends iteration with an error.
pub struct JsonlReader<T> {
    name: String,
    src: Box<dyn BufRead + Send>,
    opts: ReadOptions,
    buf: Vec<u8>,
    report: ReadReport,
    done: bool,
    _record: PhantomData<fn() -> T>,
}

impl<T: JsonRecord> JsonlReader<T> {
    /// Opens `path`; gzip input is recognised by its magic bytes, not its name.
    pub fn open(path: impl AsRef<Path>, opts: ReadOptions) -> Result<Self, ReadError> {
        let path = path.as_ref();
        let open_err = |source| ReadError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_err)?;
        let mut raw = BufReader::with_capacity(1 << 16, file);
        let gz = raw.fill_buf().map_err(open_err)?.starts_with(&[0x1f, 0x8b]);
        let src: Box<dyn BufRead + Send> = if gz {
            Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(raw)))
        } else {
            Box::new(raw)
        };
        Ok(Self::from_reader(path.display().to_string(), src, opts))
    }

    /// Reads from any buffered source; `name` is used in error messages.
    pub fn from_reader(
        name: impl Into<String>,
        src: Box<dyn BufRead + Send>,
        opts: ReadOptions,
    ) -> Self {
        Self {
            name: name.into(),
            src,
            opts,
            buf: Vec::new(),
            report: ReadReport::default(),
            done: false,
            _record: PhantomData,
        }
    }

    /// Counts and bad records so far (complete once iteration has ended).
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    /// Consumes the reader, returning its report.
    pub fn into_report(self) -> ReadReport {
        self.report
    }

    fn parse_current(&self, newline: bool) -> Option<Result<T, FieldError>> {
        let text = match std::str::from_utf8(&self.buf) {
            Ok(t) => t,
            Err(e) => {
                return Some(Err(FieldError::new(
                    "<utf-8>",
                    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
                )));
            }
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(T::from_json_str(text).map_err(|mut e| {
            if !newline && e.field == "<json>" && e.reason.contains("EOF") {
                e.reason
                    .push_str(" (the last line has no newline: was the file truncated?)");
            }
            e
        }))
    }
}

impl<T: JsonRecord> Iterator for JsonlReader<T> {
    type Item = Result<Parsed<T>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = self.report.lines + 1;
            let read = match next_line(&mut *self.src, &mut self.buf, self.opts.max_line_bytes) {
                Ok(r) => r,
                Err(source) => {
                    self.done = true;
                    return Some(Err(ReadError::Io {
                        file: self.name.clone(),
                        line,
                        source,
                    }));
                }
            };
            let parsed = match read {
                LineRead::Eof => {
                    self.done = true;
                    return None;
                }
                LineRead::TooLong { bytes } => {
                    self.report.lines = line;
                    Some(Err(FieldError::new(
                        "<line>",
                        format!(
                            "line is {bytes} bytes, over the {}-byte limit",
                            self.opts.max_line_bytes
                        ),
                    )))
                }
                LineRead::Line { newline } => {
                    self.report.lines = line;
                    self.parse_current(newline)
                }
            };
            match parsed {
                None => self.report.blank += 1,
                Some(parsed) => {
                    if let Some(item) = self.report.settle(&self.name, line, parsed, self.opts.mode)
                    {
                        self.done = item.is_err();
                        return Some(item);
                    }
                }
            }
        }
        None
    }
}

/// Reads a whole file into memory: the good records and the report.
pub fn read_all<T: JsonRecord>(
    path: impl AsRef<Path>,
    opts: ReadOptions,
) -> Result<(Vec<Parsed<T>>, ReadReport), ReadError> {
    drain(
        JsonlReader::<T>::open(path, opts)?,
        JsonlReader::into_report,
    )
}

/// Collects every record of a reader, then its report; stops at a strict-mode error.
pub(crate) fn drain<T, R>(
    mut reader: R,
    into_report: impl FnOnce(R) -> ReadReport,
) -> Result<(Vec<Parsed<T>>, ReadReport), ReadError>
where
    R: Iterator<Item = Result<Parsed<T>, ReadError>>,
{
    let mut out = Vec::new();
    for item in reader.by_ref() {
        out.push(item?);
    }
    Ok((out, into_report(reader)))
}
