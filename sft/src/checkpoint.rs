//! Training checkpoints: `OUT/checkpoint-{step}/` holding the trainable weights, the
//! optimizer moments and `state.json` (step, tokens seen, RNG state, run fingerprint).
//! A checkpoint is written under a temporary name and renamed when complete, so one
//! interrupted mid-write is never picked up; the last `keep_last` are kept.

use crate::error::{Result, SftError};
use crate::rng::Rng;
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Version of the checkpoint layout; bumped on any incompatible change.
pub const CHECKPOINT_VERSION: u32 = 1;

const WEIGHTS: &str = "trainable.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// Everything besides tensors that resuming needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Layout version ([`CHECKPOINT_VERSION`]).
    pub version: u32,
    /// Optimizer steps completed.
    pub step: u64,
    /// Trained tokens seen so far.
    pub num_tokens: u64,
    /// The dropout generator's state after `step` steps.
    pub rng: Rng,
    /// Identifies the run (settings, data size, trainable parameters); resuming with
    /// a different fingerprint is refused.
    pub fingerprint: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SftError + use<> {
    let path = path.to_path_buf();
    move |source| SftError::Io { path, source }
}

/// Writes a checkpoint for `state.step` into `out` and prunes old ones.
pub fn save(
    out: &Path,
    state: &TrainState,
    trainable: &[(String, Var)],
    optimizer: &HashMap<String, Tensor>,
    keep_last: usize,
) -> Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let tmp = out.join(format!(".tmp-checkpoint-{}", state.step));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let weights: HashMap<String, Tensor> = trainable
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
        .collect();
    candle_core::safetensors::save(&weights, tmp.join(WEIGHTS))?;
    candle_core::safetensors::save(optimizer, tmp.join(OPTIMIZER))?;
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| SftError::InvalidArgument(e.to_string()))?;
    let st = tmp.join(STATE);
    std::fs::write(&st, text).map_err(io(&st))?;
    let dest = out.join(format!("checkpoint-{}", state.step));
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
    }
    std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
    prune(out, keep_last.max(1))?;
    Ok(dest)
}

/// Completed checkpoints in `out`, oldest first.
pub fn list(out: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(out) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(io(out)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(out))?;
        let name = entry.file_name();
        let Some(step) = name
            .to_str()
            .and_then(|n| n.strip_prefix("checkpoint-"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        if [WEIGHTS, OPTIMIZER, STATE]
            .iter()
            .all(|f| dir.join(f).is_file())
        {
            found.push((step, dir));
        }
    }
    found.sort();
    Ok(found)
}

fn prune(out: &Path, keep_last: usize) -> Result<()> {
    let all = list(out)?;
    let drop = all.len().saturating_sub(keep_last);
    for (_, dir) in all.into_iter().take(drop) {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    Ok(())
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Loaded {
    /// Its directory.
    pub dir: PathBuf,
    /// The saved state.
    pub state: TrainState,
    /// Trainable weights by name.
    pub weights: HashMap<String, Tensor>,
    /// Optimizer moments by name.
    pub optimizer: HashMap<String, Tensor>,
}

/// The newest readable checkpoint in `out`, if any. A newer one that fails to read
/// (damaged after its rename) is skipped with the next older one used.
pub fn load_latest(out: &Path, device: &Device) -> Result<Option<Loaded>> {
    for (_, dir) in list(out)?.into_iter().rev() {
        if let Ok(l) = load(&dir, device) {
            return Ok(Some(l));
        }
    }
    Ok(None)
}

/// Reads one checkpoint directory.
pub fn load(dir: &Path, device: &Device) -> Result<Loaded> {
    let st = dir.join(STATE);
    let text = std::fs::read_to_string(&st).map_err(io(&st))?;
    let state: TrainState = serde_json::from_str(&text).map_err(|e| SftError::Checkpoint {
        path: st.clone(),
        message: e.to_string(),
    })?;
    if state.version != CHECKPOINT_VERSION {
        return Err(SftError::Checkpoint {
            path: st,
            message: format!(
                "layout version {} (this build reads {CHECKPOINT_VERSION})",
                state.version
            ),
        });
    }
    Ok(Loaded {
        dir: dir.to_path_buf(),
        weights: crate::weights::load_safetensors(&dir.join(WEIGHTS), device)?,
        optimizer: crate::weights::load_safetensors(&dir.join(OPTIMIZER), device)?,
        state,
    })
}
