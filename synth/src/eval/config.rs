//! Settings of an eval run and `config.json`, their fingerprint: an eval directory
//! made with other result-changing settings is not resumed unless forced.

use super::{Bench, EVAL_TEMPLATE_VERSION, EvalError};
use crate::run::config::limits_json;
use crate::run::write_atomic;
use crate::teacher::SamplingParams;
use sandbox::Limits;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Format tag of an eval directory's `config.json`.
pub const EVAL_CONFIG_FORMAT: &str = "eval-run.v1";

/// Settings of an eval run.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// The benchmark. Default: [`Bench::HumanEval`].
    pub bench: Bench,
    /// Samples per problem (`n`). Default: 1.
    pub samples: u32,
    /// The k of each reported pass@k; each must be in `1..=samples`. Default: `[1]`.
    pub ks: Vec<u32>,
    /// Sampling parameters; sample `s` uses seed `seed + s`. Default: greedy
    /// (temperature 0, top-p 1), 512 tokens, seed 0, no stop sequences.
    pub params: SamplingParams,
    /// Evaluate only the first `limit` problems. Default: all.
    pub limit: Option<usize>,
    /// Run only the answer's imports, definitions and assignments, not its own demo
    /// or self-test code ([`crate::strip`]). Default: true.
    pub sanitize: bool,
    /// Problems worked on at once. Default: 8.
    pub concurrency: usize,
    /// Resume even when the directory's fingerprint differs (the stored config is
    /// replaced). Default: false.
    pub force: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            bench: Bench::HumanEval,
            samples: 1,
            ks: vec![1],
            params: SamplingParams {
                temperature: 0.0,
                top_p: 1.0,
                max_tokens: 512,
                seed: Some(0),
                stop: Vec::new(),
            },
            limit: None,
            sanitize: true,
            concurrency: 8,
            force: false,
        }
    }
}

impl EvalOptions {
    /// Checks that the settings can work: at least one sample, every k in
    /// `1..=samples`, a limit of at least 1.
    pub fn validate(&self) -> Result<(), EvalError> {
        if self.samples == 0 {
            return Err(EvalError::Settings("--samples must be at least 1".into()));
        }
        if self.ks.is_empty() {
            return Err(EvalError::Settings("give at least one k".into()));
        }
        if let Some(k) = self.ks.iter().find(|&&k| k == 0 || k > self.samples) {
            return Err(EvalError::Settings(format!(
                "pass@{k} needs 1 <= k <= samples ({}); raise --samples or lower --k",
                self.samples
            )));
        }
        if self.limit == Some(0) {
            return Err(EvalError::Settings("--limit must be at least 1".into()));
        }
        Ok(())
    }
}

/// File names inside an eval directory.
#[derive(Debug, Clone)]
pub struct EvalPaths {
    /// The eval directory itself.
    pub dir: PathBuf,
}

impl EvalPaths {
    /// Paths of the eval directory `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        EvalPaths {
            dir: dir.as_ref().to_path_buf(),
        }
    }
    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// `results.jsonl`: one line per finished problem.
    pub fn results(&self) -> PathBuf {
        self.dir.join("results.jsonl")
    }
    /// `summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.dir.join("summary.json")
    }
    /// `summary.txt`, the printed table.
    pub fn summary_text(&self) -> PathBuf {
        self.dir.join("summary.txt")
    }
}

/// The stored `config.json` of an eval directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Always [`EVAL_CONFIG_FORMAT`].
    pub format: String,
    /// sha256 of `settings` (canonical JSON).
    pub fingerprint: String,
    /// Everything that changes results: model, bench, sampling parameters, prompt
    /// template, samples, ks, limit, sanitizing, sandbox limits.
    pub settings: Value,
    /// Version of distill-synth that wrote it.
    pub tool_version: String,
}

impl EvalConfig {
    /// The config of an eval of `model` with these settings.
    pub fn new(model: &str, options: &EvalOptions, limits: Limits) -> Self {
        let settings = json!({
            "model": model,
            "bench": options.bench.name(),
            "params": options.params,
            "prompt_template": EVAL_TEMPLATE_VERSION,
            "samples": options.samples,
            "ks": options.ks,
            "limit": options.limit,
            "sanitize": options.sanitize,
            "limits": limits_json(limits),
        });
        // serde_json's map is ordered by key, so this text is canonical.
        let fingerprint = hex::encode(Sha256::digest(settings.to_string().as_bytes()));
        EvalConfig {
            format: EVAL_CONFIG_FORMAT.into(),
            fingerprint,
            settings,
            tool_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Reads the `config.json` of an eval directory.
    pub fn read(paths: &EvalPaths) -> Result<EvalConfig, EvalError> {
        let path = paths.config();
        let bytes = std::fs::read(&path).map_err(|e| EvalError::io(&path, e))?;
        let stored: EvalConfig =
            serde_json::from_slice(&bytes).map_err(|e| EvalError::Corrupt {
                path: path.clone(),
                reason: format!("not an eval config: {e}"),
            })?;
        if stored.format != EVAL_CONFIG_FORMAT {
            return Err(EvalError::Corrupt {
                path,
                reason: format!(
                    "format `{}` is not `{EVAL_CONFIG_FORMAT}` (not an eval directory?)",
                    stored.format
                ),
            });
        }
        Ok(stored)
    }

    /// Checks `config.json` against `self` and writes it when absent (or when
    /// `force`d over a mismatch). Returns whether the directory was already an eval.
    pub fn establish(&self, paths: &EvalPaths, force: bool) -> Result<bool, EvalError> {
        let existed = if paths.config().exists() {
            let stored = EvalConfig::read(paths)?;
            if stored.fingerprint == self.fingerprint {
                return Ok(true);
            }
            if !force {
                return Err(EvalError::ConfigMismatch {
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
        } else {
            false
        };
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| EvalError::Internal(format!("serializing config.json: {e}")))?;
        write_atomic(&paths.config(), &text)?;
        Ok(existed)
    }

    /// The model name stored in the settings.
    pub fn model(&self) -> &str {
        self.settings["model"].as_str().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_result_changing_settings_only() {
        let base = EvalOptions::default();
        let a = EvalConfig::new("m", &base, Limits::default());
        let busier = EvalOptions {
            concurrency: 99,
            force: true,
            ..base.clone()
        };
        assert_eq!(a, EvalConfig::new("m", &busier, Limits::default()));
        let limited = EvalOptions {
            limit: Some(5),
            ..base.clone()
        };
        assert_ne!(
            a.fingerprint,
            EvalConfig::new("m", &limited, Limits::default()).fingerprint
        );
        assert_ne!(
            a.fingerprint,
            EvalConfig::new("other", &base, Limits::default()).fingerprint
        );
    }

    #[test]
    fn k_must_fit_the_samples() {
        let o = EvalOptions {
            samples: 5,
            ks: vec![1, 10],
            ..EvalOptions::default()
        };
        assert!(matches!(o.validate(), Err(EvalError::Settings(m)) if m.contains("pass@10")));
        assert!(EvalOptions::default().validate().is_ok());
    }
}
