//! The held-out metrics of the starting model (step 0), the "before" of every run:
//! computed once when a fresh run has held-out data and periodic eval, kept in
//! `OUT/eval_start.json` so a resumed run reports the same numbers without recomputing
//! (serde_json's `float_roundtrip` makes the read-back value bit-identical).

use crate::data::Example;
use crate::error::{Result, SftError};
use crate::train::Trainer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// File name of the starting model's held-out metrics inside the run directory.
pub const START_EVAL_FILE: &str = "eval_start.json";

/// Held-out metrics of the model before its first optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartEval {
    /// Held-out loss (the objective's, as `eval_loss` in `metrics.jsonl`).
    pub eval_loss: f64,
    /// The objective's further held-out metrics, keyed as in `metrics.jsonl`
    /// (`eval_kl`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, f64>,
}

/// The starting model's held-out metrics for the run in `out`: read from
/// [`START_EVAL_FILE`] when an earlier invocation wrote it, computed with `trainer`
/// and written when the run has not taken a step yet, `None` otherwise (no held-out
/// data, eval turned off, or a run resumed from a directory without the file).
pub fn start_eval(
    trainer: &mut Trainer,
    eval: &[Example],
    eval_every: u64,
    out: &Path,
) -> Result<Option<StartEval>> {
    if eval.is_empty() || eval_every == 0 {
        return Ok(None);
    }
    let path = out.join(START_EVAL_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let found = serde_json::from_str(&text).map_err(|e| {
            SftError::InvalidArgument(format!("{}: {e} (delete it to recompute)", path.display()))
        })?;
        return Ok(Some(found));
    }
    if trainer.step() > 0 {
        return Ok(None);
    }
    let (eval_loss, extra) = trainer.eval_metrics(eval)?;
    let found = StartEval {
        eval_loss,
        extra: extra
            .into_iter()
            .map(|(k, v)| (format!("eval_{k}"), v))
            .collect(),
    };
    crate::atomic_file::write_json_pretty(&path, &found)?;
    Ok(Some(found))
}
