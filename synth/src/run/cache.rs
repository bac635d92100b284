//! The teacher-call cache: one file per call under `cache/`, named by the sha256 of
//! the model, the messages, the sampling parameters and the sample index, holding the
//! answer. A cached call costs nothing, so re-running a finished run makes no calls.

use super::write_atomic;
use crate::SynthError;
use crate::teacher::{ChatRequest, Completion};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The cache directory of a run.
#[derive(Debug, Clone)]
pub struct CallCache {
    dir: PathBuf,
}

impl CallCache {
    /// A cache in `dir` (created if missing).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SynthError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| SynthError::io(&dir, e))?;
        Ok(CallCache { dir })
    }

    /// The content hash of a call.
    pub fn key(model: &str, request: &ChatRequest, sample: u32) -> String {
        let canonical = json!({
            "model": model,
            "messages": request.messages,
            "params": request.params,
            "sample": sample,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The cached answer, if any. An unreadable entry counts as a miss (and is
    /// overwritten by the next call).
    pub fn get(&self, key: &str) -> Option<Completion> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(c) => Some(c),
            Err(err) => {
                tracing::warn!(key, "ignoring unreadable cache entry: {err}");
                None
            }
        }
    }

    /// Stores an answer.
    pub fn put(&self, key: &str, completion: &Completion) -> Result<(), SynthError> {
        let path = self.path(key);
        let bytes = serde_json::to_vec(completion).map_err(|e| SynthError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &bytes)
    }
}
