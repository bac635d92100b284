//! The append-only journals `attempts.jsonl` (every teacher answer) and `done.jsonl`
//! (every finished problem): repairing a torn last line left by a crash, and reading
//! them back on resume.

use crate::SynthError;
use datasets::FieldError;
use datasets::jsonl::{JsonlReader, ReadOptions};
use datasets::records::{Attempt, JsonRecord};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How a problem was finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneStatus {
    /// All samples it needed were run.
    Finished,
    /// The problem itself is broken (its tests do not compile, or its reference
    /// solution fails them); the teacher was not asked.
    BadProblem,
}

/// One line of `done.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneRecord {
    /// The problem.
    pub problem_id: String,
    /// How it ended.
    pub status: DoneStatus,
    /// Samples run.
    pub samples: u32,
    /// Samples that passed.
    pub accepted: u32,
    /// Why the problem is bad, for [`DoneStatus::BadProblem`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl JsonRecord for DoneRecord {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        datasets::records::parse_typed(text)
    }
}

/// Cuts a journal back to its last complete line when a crash left a partial one
/// (no final newline). Returns the number of bytes dropped.
pub fn repair_torn_tail(path: &Path) -> Result<u64, SynthError> {
    let io = |e| SynthError::io(path, e);
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    // Scan backwards in blocks for the last newline.
    let mut end = len;
    let mut keep = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = usize::try_from(end - start).unwrap_or(buf.len());
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        file.read_exact(&mut buf[..n]).map_err(io)?;
        if let Some(pos) = buf[..n].iter().rposition(|&b| b == b'\n') {
            keep = start + pos as u64 + 1;
            break;
        }
        end = start;
    }
    if keep == len {
        return Ok(0);
    }
    file.set_len(keep).map_err(io)?;
    file.sync_all().map_err(io)?;
    tracing::warn!(
        "{}: repaired a torn last line ({} bytes dropped)",
        path.display(),
        len - keep
    );
    Ok(len - keep)
}

/// Reads every record of a journal (missing file: none). Bad lines are skipped with
/// a warning: one bad line must not lose the rest of the run.
pub fn read_journal<T: JsonRecord>(path: &Path) -> Result<Vec<T>, SynthError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut reader = JsonlReader::<T>::open(path, ReadOptions::lenient())?;
    let mut out = Vec::new();
    for item in reader.by_ref() {
        out.push(item?.record);
    }
    for bad in &reader.report().bad {
        tracing::warn!("skipping bad journal line {bad}");
    }
    Ok(out)
}

/// Reads `attempts.jsonl`.
pub fn read_attempts(path: &Path) -> Result<Vec<Attempt>, SynthError> {
    read_journal(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_only_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("j.jsonl");
        std::fs::write(&p, b"{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(repair_torn_tail(&p).ok(), Some(5));
        assert_eq!(
            std::fs::read(&p).ok(),
            Some(b"{\"a\":1}\n{\"a\":2}\n".to_vec())
        );
        assert_eq!(repair_torn_tail(&p).ok(), Some(0));
        std::fs::write(&p, b"torn").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(repair_torn_tail(&p).ok(), Some(4));
        assert_eq!(std::fs::read(&p).ok(), Some(Vec::new()));
    }
}
