//! n-gram decontamination: flag training records that share a run of `n`
//! word tokens with a benchmark problem (by default HumanEval prompts plus
//! canonical solutions, see [`crate::bench::HumanEvalTask::to_benchmark_text`]).
//!
//! Texts are split into words (maximal runs of letters, digits and `_`) and
//! single punctuation characters; whitespace and line breaks are ignored, so
//! reindented or reflowed copies still match. Benchmark texts shorter than
//! `n` tokens cannot be matched (they would flag common one-liners).

use std::collections::HashMap;

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use std::path::Path;

use crate::bench::{BenchmarkText, load_humaneval};
use crate::error::ReadError;

/// Default n-gram length, in word tokens (GPT-3's decontamination used 13
/// words). A typed HumanEval signature is about 8–20 tokens, so a copy of a
/// long signature alone can already match; a shorter `n` flags more.
pub const DEFAULT_NGRAM: usize = 13;

/// Where a record overlaps a benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contamination {
    /// Benchmark name.
    pub benchmark: String,
    /// Task id within the benchmark.
    pub task_id: String,
    /// The first shared n-gram, tokens joined by single spaces.
    pub ngram: String,
    /// How many of the record's n-grams occur in that task.
    pub matched_ngrams: usize,
}

/// One record's decontamination result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecontamResult {
    /// The record's id.
    pub id: String,
    /// The overlap found, if any.
    pub contamination: Option<Contamination>,
}

/// An index of benchmark n-grams.
#[derive(Debug, Clone)]
pub struct Decontaminator {
    n: usize,
    tasks: Vec<BenchmarkText>,
    index: HashMap<u64, u32>,
}

/// Word and punctuation tokens of `text` (see the module doc).
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        let wordy = c.is_alphanumeric() || c == '_';
        match (wordy, start) {
            (true, None) => start = Some(i),
            (true, Some(_)) => {}
            (false, s) => {
                if let Some(s) = s {
                    out.push(&text[s..i]);
                    start = None;
                }
                if !c.is_whitespace() {
                    out.push(&text[i..i + c.len_utf8()]);
                }
            }
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

fn ngram_hash(tokens: &[&str]) -> u64 {
    xxh3_64(tokens.join("\u{1}").as_bytes())
}

impl Decontaminator {
    /// Indexes every `n`-gram (`n` at least 1) of the given benchmark texts.
    pub fn new(benchmarks: Vec<BenchmarkText>, n: usize) -> Self {
        let n = n.max(1);
        let mut index = HashMap::new();
        for (t, b) in benchmarks.iter().enumerate() {
            for w in words(&b.text).windows(n) {
                index.entry(ngram_hash(w)).or_insert(t as u32);
            }
        }
        tracing::debug!(
            tasks = benchmarks.len(),
            ngrams = index.len(),
            "decontamination index built"
        );
        Self {
            n,
            tasks: benchmarks,
            index,
        }
    }

    /// The default index: every HumanEval prompt plus canonical solution, read
    /// from `HumanEval.jsonl.gz` at `path`, with [`DEFAULT_NGRAM`]-grams.
    pub fn humaneval(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        let texts = load_humaneval(path)?
            .iter()
            .map(|t| t.to_benchmark_text())
            .collect();
        Ok(Self::new(texts, DEFAULT_NGRAM))
    }

    /// The overlap of `text` with the benchmarks: the task hit first, with
    /// the count of the record's n-grams found in that task.
    pub fn check(&self, text: &str) -> Option<Contamination> {
        let tokens = words(text);
        let mut first: Option<(u32, usize)> = None;
        let mut count = 0;
        for (pos, w) in tokens.windows(self.n).enumerate() {
            if let Some(&t) = self.index.get(&ngram_hash(w)) {
                match first {
                    None => {
                        first = Some((t, pos));
                        count = 1;
                    }
                    Some((ft, _)) if ft == t => count += 1,
                    Some(_) => {}
                }
            }
        }
        let (t, pos) = first?;
        let task = self.tasks.get(t as usize)?;
        Some(Contamination {
            benchmark: task.benchmark.clone(),
            task_id: task.task_id.clone(),
            ngram: tokens[pos..pos + self.n].join(" "),
            matched_ngrams: count,
        })
    }

    /// Checks `(id, text)` pairs in order.
    pub fn run<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<DecontamResult> {
        items
            .into_iter()
            .map(|(id, text)| DecontamResult {
                id: id.to_string(),
                contamination: self.check(text),
            })
            .collect()
    }
}
