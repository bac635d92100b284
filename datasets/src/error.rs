//! Error types shared by the crate: a field-level complaint about one record
//! ([`FieldError`]), the same complaint located in a file ([`BadRecord`]), and
//! the errors readers and writers return.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// What is wrong with one record, without knowing where it came from.
///
/// `field` is a path into the record (`messages[2].role`, `outcome.status`),
/// or a bracketed pseudo-field for whole-line problems (`<json>`, `<utf-8>`,
/// `<line>`, `<record>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Path of the offending field inside the record.
    pub field: String,
    /// Why the value was rejected, in words a user can act on.
    pub reason: String,
}

impl FieldError {
    /// Builds a field error from anything printable.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A bad record located in its file: prints as `file:line: field: reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    /// The file (or stream name) the record came from.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// Path of the offending field, see [`FieldError::field`].
    pub field: String,
    /// Why the record was rejected.
    pub reason: String,
}

impl BadRecord {
    /// Locates a [`FieldError`] at `file:line`.
    pub fn at(file: impl Into<String>, line: u64, err: FieldError) -> Self {
        Self {
            file: file.into(),
            line,
            field: err.field,
            reason: err.reason,
        }
    }
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.reason
        )
    }
}

impl std::error::Error for BadRecord {}

/// Why reading a JSONL file stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened (the user's path is wrong or unreadable).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Reading failed part-way (disk error, or a corrupt or truncated gzip
    /// stream); records before `line` were delivered.
    #[error("{file}:{line}: read failed: {source}")]
    Io {
        /// The file being read.
        file: String,
        /// The line being read when it failed (1-based).
        line: u64,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A bad record in strict mode.
    #[error("{0}")]
    Record(BadRecord),
}

/// Why writing a JSONL record failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The output file could not be opened for appending.
    #[error("cannot open {} for appending: {source}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Writing or flushing failed.
    #[error("cannot write to {}: {source}", path.display())]
    Io {
        /// The output path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The record could not be serialized (a bug in the caller's type).
    #[error("cannot serialize a record for {}: {source}", path.display())]
    Serialize {
        /// The output path.
        path: PathBuf,
        /// The serializer's reason.
        source: serde_json::Error,
    },
}
