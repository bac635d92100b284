//! Deduplication of code records.
//!
//! Records are processed in order; the first of a group is kept.
//! 1. Exact: records whose [`exact_key`] (token stream, ignoring whitespace
//!    and comments) equals an earlier record's are `exact_duplicate`s of it.
//! 2. Near: the [`canonical_tokens`] (local names replaced by a placeholder) are shingled, MinHashed and looked up in an LSH index of the
//!    records kept so far; a candidate whose estimated Jaccard similarity
//!    reaches the threshold makes the record a `near_duplicate` of the most
//!    similar one. Only kept records enter the index.
//!
//! Defaults ([`DedupConfig::default`]): shingles of 5 tokens, 256 hash
//! functions as 32 bands × 8 rows (candidate probability `1 - (1 - s^8)^32`:
//! 0.85 at Jaccard 0.7, 0.997 at 0.8, 8e-5 at 0.2), threshold 0.7, local names
//! replaced by a placeholder.

mod bench;
mod lex;
mod lsh;
mod minhash;
mod normalize;
pub mod synthetic;

use std::collections::HashMap;

use serde::Serialize;

pub use bench::{DedupBench, bench_dedup};
pub use lex::{Token, TokenKind, tokenize};
pub use lsh::LshIndex;
pub use minhash::{MinHasher, estimate_jaccard};
pub use normalize::{analyze, canonical_tokens, exact_key, extract_code};

/// Near-dedup settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupConfig {
    /// Tokens per shingle. Default: 5.
    pub shingle: usize,
    /// LSH bands. Default: 32.
    pub bands: usize,
    /// Signature rows per band; `bands * rows` hash functions. Default: 8.
    pub rows: usize,
    /// Estimated Jaccard similarity at or above which a record is a near
    /// duplicate. Default: 0.7.
    pub threshold: f64,
    /// Replace local names by a placeholder before shingling, so renamed
    /// variables still match. Default: true.
    pub rename_identifiers: bool,
    /// Seed of the hash functions. Default: 42.
    pub seed: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            shingle: 5,
            bands: 32,
            rows: 8,
            threshold: 0.7,
            rename_identifiers: true,
            seed: 42,
        }
    }
}

/// A bad [`DedupConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid dedup configuration: {0}")]
pub struct ConfigError(pub String);

impl DedupConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.shingle == 0 || self.bands == 0 || self.rows == 0 {
            return Err(ConfigError(
                "shingle, bands and rows must all be positive".into(),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError(format!(
                "threshold must be in (0, 1], got {}",
                self.threshold
            )));
        }
        Ok(())
    }
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// First of its kind: kept.
    Keep,
    /// Same normalized code as an earlier record.
    ExactDuplicate {
        /// Id of the first record with this code.
        of: String,
    },
    /// Similar to an earlier kept record.
    NearDuplicate {
        /// Id of the most similar kept record.
        of: String,
        /// Its estimated Jaccard similarity.
        similarity: f64,
    },
}

impl Decision {
    /// Whether the record is kept.
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    /// The id of the matched record, for duplicates.
    pub fn matched(&self) -> Option<&str> {
        match self {
            Self::Keep => None,
            Self::ExactDuplicate { of } | Self::NearDuplicate { of, .. } => Some(of),
        }
    }
}

/// One record's decision, as written to a dedup report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DedupResult {
    /// The record's id.
    pub id: String,
    /// The decision.
    #[serde(flatten)]
    pub decision: Decision,
}

/// A record's normal forms, computed independently of other records (so
/// batches can be prepared on several threads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Whitespace/comment-insensitive hash.
    pub key: u128,
    /// MinHash signature of the canonical shingles (`None` for code without
    /// tokens).
    pub signature: Option<Vec<u64>>,
}

/// Streaming deduplicator: feed records in order with [`Deduper::push`] or
/// [`Deduper::push_batch`].
#[derive(Debug)]
pub struct Deduper {
    config: DedupConfig,
    hasher: MinHasher,
    exact: HashMap<u128, u32>,
    ids: Vec<String>,
    lsh: LshIndex,
    kept_sigs: Vec<Vec<u64>>,
    kept_items: Vec<u32>,
}

impl Deduper {
    /// A deduplicator with the given settings.
    pub fn new(config: DedupConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            hasher: MinHasher::new(config.bands * config.rows, config.shingle, config.seed),
            lsh: LshIndex::new(config.bands, config.rows),
            config,
            exact: HashMap::new(),
            ids: Vec::new(),
            kept_sigs: Vec::new(),
            kept_items: Vec::new(),
        })
    }

    /// Computes a record's normal forms (pure; safe to run in parallel).
    pub fn prepare(&self, code: &str) -> Prepared {
        let (key, tokens) = analyze(code, self.config.rename_identifiers);
        let shingles = self.hasher.shingles(&tokens);
        Prepared {
            key,
            signature: (!shingles.is_empty()).then(|| self.hasher.signature(&shingles)),
        }
    }

    /// Decides on the next record (`code` is the text to compare, usually the
    /// output of [`extract_code`]).
    pub fn push(&mut self, id: &str, code: &str) -> Decision {
        let prepared = self.prepare(code);
        self.decide(id, prepared)
    }

    /// Decides on a batch of records in order, preparing them on up to
    /// `threads` threads first (the decisions equal those of [`Deduper::push`]).
    pub fn push_batch(&mut self, items: &[(&str, &str)], threads: usize) -> Vec<Decision> {
        let threads = threads.clamp(1, items.len().max(1));
        let chunk = items.len().div_ceil(threads).max(1);
        let this = &*self;
        let prepared: Vec<Prepared> = std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|(_, c)| this.prepare(c))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if prepared.len() != items.len() {
            // A preparing thread panicked (a bug); fall back to one thread.
            return items.iter().map(|(id, code)| self.push(id, code)).collect();
        }
        items
            .iter()
            .zip(prepared)
            .map(|((id, _), p)| self.decide(id, p))
            .collect()
    }

    /// Decides on the next record from its prepared normal forms.
    pub fn decide(&mut self, id: &str, prepared: Prepared) -> Decision {
        let item = self.ids.len() as u32;
        self.ids.push(id.to_string());
        if let Some(&first) = self.exact.get(&prepared.key) {
            return Decision::ExactDuplicate {
                of: self.ids[first as usize].clone(),
            };
        }
        self.exact.insert(prepared.key, item);
        let Some(sig) = prepared.signature else {
            return Decision::Keep;
        };
        let best = self
            .lsh
            .candidates(&sig)
            .into_iter()
            .map(|k| (k, estimate_jaccard(&sig, &self.kept_sigs[k as usize])))
            .fold(None::<(u32, f64)>, |best, (k, s)| match best {
                Some((_, bs)) if bs >= s => best,
                _ => Some((k, s)),
            });
        if let Some((k, similarity)) = best.filter(|(_, s)| *s >= self.config.threshold) {
            let of = self.ids[self.kept_items[k as usize] as usize].clone();
            return Decision::NearDuplicate { of, similarity };
        }
        self.lsh.insert(&sig);
        self.kept_sigs.push(sig);
        self.kept_items.push(item);
        Decision::Keep
    }
}

/// Deduplicates `(id, code)` pairs in order.
pub fn dedup<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a str)>,
    config: DedupConfig,
) -> Result<Vec<DedupResult>, ConfigError> {
    let mut d = Deduper::new(config)?;
    Ok(items
        .into_iter()
        .map(|(id, code)| DedupResult {
            id: id.to_string(),
            decision: d.push(id, code),
        })
        .collect())
}
