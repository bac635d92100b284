//! The JSONL writer: opens for appending, writes each record as one line and
//! flushes it, so a crash loses at most the record being written.
//!
//! A path ending in `.gz` is written as a gzip member that is sync-flushed
//! after every record and finished by [`JsonlWriter::finish`] (or on drop);
//! appending again adds a new member, which [`super::JsonlReader`] reads as
//! one stream. A crashed gzip writer leaves a member without trailer, so use
//! plain JSONL for journals and gzip for finished artifacts.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use crate::error::WriteError;

enum Sink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

/// Appends records of type `T` to a JSONL file, one flushed line each.
pub struct JsonlWriter<T> {
    path: PathBuf,
    sink: Option<Sink>,
    written: u64,
    _record: PhantomData<fn(&T)>,
}

impl<T: Serialize> JsonlWriter<T> {
    /// Opens `path` for appending (creating it); `.gz` selects gzip.
    pub fn append(path: impl AsRef<Path>) -> Result<Self, WriteError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| WriteError::Open {
                path: path.clone(),
                source,
            })?;
        let out = BufWriter::with_capacity(1 << 16, file);
        let gz = path.extension().is_some_and(|e| e == "gz");
        let sink = if gz {
            Sink::Gzip(GzEncoder::new(out, Compression::default()))
        } else {
            Sink::Plain(out)
        };
        Ok(Self {
            path,
            sink: Some(sink),
            written: 0,
            _record: PhantomData,
        })
    }

    /// Writes one record as one line and flushes it to the file.
    pub fn write(&mut self, record: &T) -> Result<(), WriteError> {
        let mut line = serde_json::to_vec(record).map_err(|source| WriteError::Serialize {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        let io = |source| WriteError::Io {
            path: self.path.clone(),
            source,
        };
        match self.sink.as_mut() {
            Some(Sink::Plain(w)) => w.write_all(&line).and_then(|()| w.flush()),
            Some(Sink::Gzip(w)) => w.write_all(&line).and_then(|()| w.flush()),
            None => Ok(()),
        }
        .map_err(io)?;
        self.written += 1;
        Ok(())
    }

    /// Records written by this writer.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Finishes the file (writes the gzip trailer) and syncs it to disk.
    pub fn finish(mut self) -> Result<(), WriteError> {
        let io = |source| WriteError::Io {
            path: self.path.clone(),
            source,
        };
        let file = match self.sink.take() {
            Some(Sink::Plain(w)) => w.into_inner().map_err(|e| io(e.into_error()))?,
            Some(Sink::Gzip(w)) => {
                let w = w.finish().map_err(io)?;
                w.into_inner().map_err(|e| io(e.into_error()))?
            }
            None => return Ok(()),
        };
        file.sync_all().map_err(io)
    }
}
