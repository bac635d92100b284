//! `config.json`: the result-changing settings of a run and their fingerprint. A run
//! directory made with other settings is not resumed unless forced.

use super::{RunPaths, write_atomic};
use crate::SynthError;
use crate::options::SynthOptions;
use crate::prompt::TEMPLATE_VERSION;
use sandbox::Limits;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Format tag of `config.json`.
pub const CONFIG_FORMAT: &str = "synth-run.v1";

/// The stored `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Always [`CONFIG_FORMAT`].
    pub format: String,
    /// sha256 of `settings` (canonical JSON).
    pub fingerprint: String,
    /// Everything that changes results: model, sampling parameters, prompt template,
    /// samples, feedback turns, accept count, output rules, sandbox limits.
    pub settings: Value,
    /// Version of distill-synth that wrote it.
    pub tool_version: String,
}

impl RunConfig {
    /// The config of a run with these settings.
    pub fn new(model: &str, options: &SynthOptions, limits: Limits) -> Self {
        let settings = json!({
            "model": model,
            "params": options.params,
            "prompt_template": TEMPLATE_VERSION,
            "samples": options.samples,
            "max_feedback": options.max_feedback,
            "accept": options.accept,
            "sft_dialogue": options.sft_dialogue,
            "strip_demo_code": options.strip_demo_code,
            "dpo_rejected": options.dpo_rejected,
            "limits": limits_json(limits),
        });
        // serde_json's map is ordered by key, so this text is canonical.
        let fingerprint = hex::encode(Sha256::digest(settings.to_string().as_bytes()));
        RunConfig {
            format: CONFIG_FORMAT.into(),
            fingerprint,
            settings,
            tool_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Checks `config.json` against `self` and writes it when absent (or when
    /// `force`d over a mismatch). Returns whether the directory was already a run.
    pub fn establish(&self, paths: &RunPaths, force: bool) -> Result<bool, SynthError> {
        let path = paths.config();
        let existed = match std::fs::read(&path) {
            Ok(bytes) => {
                let stored: RunConfig =
                    serde_json::from_slice(&bytes).map_err(|e| SynthError::Corrupt {
                        path: path.clone(),
                        reason: format!("not a synth run config: {e}"),
                    })?;
                if stored.fingerprint == self.fingerprint {
                    return Ok(true);
                }
                if !force {
                    return Err(SynthError::ConfigMismatch {
                        dir: paths.dir.clone(),
                        found: stored.fingerprint,
                        expected: self.fingerprint.clone(),
                    });
                }
                tracing::warn!(
                    "{}: settings changed; resuming anyway (forced)",
                    paths.dir.display()
                );
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(SynthError::io(&path, e)),
        };
        let text = serde_json::to_vec_pretty(self).map_err(|e| SynthError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &text)?;
        Ok(existed)
    }
}

/// Sandbox limits as JSON (also used in record provenance).
pub fn limits_json(limits: Limits) -> Value {
    json!({
        "timeout_ms": u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
        "memory_bytes": limits.memory_bytes,
        "output_bytes": limits.output_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_result_changing_settings_only() {
        let base = SynthOptions::default();
        let a = RunConfig::new("m", &base, Limits::default());
        let more_workers = SynthOptions {
            concurrency: 99,
            force: true,
            ..base.clone()
        };
        assert_eq!(a, RunConfig::new("m", &more_workers, Limits::default()));
        let fewer = SynthOptions {
            samples: 2,
            ..base.clone()
        };
        assert_ne!(
            a.fingerprint,
            RunConfig::new("m", &fewer, Limits::default()).fingerprint
        );
        assert_ne!(
            a.fingerprint,
            RunConfig::new("n", &base, Limits::default()).fingerprint
        );
    }
}
