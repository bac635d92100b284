//! The run directory (DESIGN.md, "Run directory"): `config.json` with the settings
//! fingerprint, the append-only journals `attempts.jsonl` and `done.jsonl`, the
//! teacher-call `cache/`, and the derived `sft.jsonl`, `dpo.jsonl`, `report.json`
//! and `summary.txt`.

pub mod cache;
pub mod config;
pub mod journal;

use std::path::{Path, PathBuf};

/// File names inside a run directory.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The run directory itself.
    pub dir: PathBuf,
}

impl RunPaths {
    /// Paths of the run directory `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        RunPaths {
            dir: dir.as_ref().to_path_buf(),
        }
    }
    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// `attempts.jsonl`.
    pub fn attempts(&self) -> PathBuf {
        self.dir.join("attempts.jsonl")
    }
    /// `done.jsonl`.
    pub fn done(&self) -> PathBuf {
        self.dir.join("done.jsonl")
    }
    /// `cache/`.
    pub fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }
    /// `sft.jsonl`.
    pub fn sft(&self) -> PathBuf {
        self.dir.join("sft.jsonl")
    }
    /// `dpo.jsonl`.
    pub fn dpo(&self) -> PathBuf {
        self.dir.join("dpo.jsonl")
    }
    /// `report.json`.
    pub fn report(&self) -> PathBuf {
        self.dir.join("report.json")
    }
    /// `summary.txt`, the printed summary.
    pub fn summary(&self) -> PathBuf {
        self.dir.join("summary.txt")
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then
/// a rename), so readers never see half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), crate::SynthError> {
    use std::io::Write;
    let tmp = path.with_extension(format!(
        "tmp.{}.{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let io = |e| crate::SynthError::io(path, e);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes records as a whole JSONL file, atomically.
pub fn write_jsonl<T: serde::Serialize>(
    path: &Path,
    records: &[T],
) -> Result<(), crate::SynthError> {
    let mut bytes = Vec::new();
    for r in records {
        serde_json::to_writer(&mut bytes, r)
            .map_err(|e| crate::SynthError::Internal(e.to_string()))?;
        bytes.push(b'\n');
    }
    write_atomic(path, &bytes)
}
