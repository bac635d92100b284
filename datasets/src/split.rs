//! Deterministic train/eval splits that never separate one problem's samples:
//! a record's side is decided by hashing its group key (the problem id) with
//! the seed, so all records of a problem land together, and the same seed
//! always gives the same split, whatever the file order.

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::records::{DpoRecord, Message, Role, SftRecord};

/// Which side of the split a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Training data.
    Train,
    /// Held-out evaluation data.
    Eval,
}

/// Split settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitConfig {
    /// Expected fraction of groups sent to eval. Default: 0.05.
    pub eval_fraction: f64,
    /// Seed of the assignment hash. Default: 0.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            eval_fraction: 0.05,
            seed: 0,
        }
    }
}

/// The side of the group `key`: eval when its seeded hash, as a fraction of
/// 2^64, is below `eval_fraction`.
pub fn side_of(key: &str, config: SplitConfig) -> Side {
    let h = xxh3_64_with_seed(key.as_bytes(), config.seed);
    if (h as f64) / 18_446_744_073_709_551_616.0 < config.eval_fraction {
        Side::Eval
    } else {
        Side::Train
    }
}

fn first_user(messages: &[Message]) -> &str {
    messages
        .iter()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str())
}

/// Group key of an SFT record: `meta.problem_id`, else its first user message
/// (imported data has no problem id, and the question identifies the problem).
pub fn sft_group(record: &SftRecord) -> String {
    record
        .meta
        .problem_id
        .clone()
        .unwrap_or_else(|| format!("user:{}", first_user(&record.messages)))
}

/// Group key of a DPO record: `meta.problem_id`, else its first user message.
pub fn dpo_group(record: &DpoRecord) -> String {
    record
        .meta
        .problem_id
        .clone()
        .unwrap_or_else(|| format!("user:{}", first_user(&record.prompt)))
}
