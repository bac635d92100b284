//! `bench_dedup`: MinHash dedup throughput on a synthetic corpus, for
//! `distill bench dedup`.

use std::time::Instant;

use serde::Serialize;

use super::synthetic::{SyntheticOptions, corpus};
use super::{ConfigError, DedupConfig, Deduper};

/// Result of one dedup benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DedupBench {
    /// Records deduplicated.
    pub records: usize,
    /// Seconds spent deduplicating (generation excluded).
    pub seconds: f64,
    /// Throughput.
    pub records_per_s: f64,
    /// Records flagged as exact or near duplicates.
    pub duplicates: usize,
    /// Records planted as duplicates by the generator.
    pub planted: usize,
    /// Threads used to prepare signatures.
    pub threads: usize,
}

/// Generates `records` synthetic functions (10% planted near duplicates,
/// seed 7) and times [`Deduper::push_batch`] over them with `config`, in
/// batches of 4096 prepared on `threads` threads.
pub fn bench_dedup(
    records: usize,
    config: DedupConfig,
    threads: usize,
) -> Result<DedupBench, ConfigError> {
    let data = corpus(SyntheticOptions {
        records,
        dup_fraction: 0.1,
        edit_probability: 0.5,
        seed: 7,
    });
    let mut d = Deduper::new(config)?;
    let items: Vec<(&str, &str)> = data
        .iter()
        .map(|r| (r.id.as_str(), r.code.as_str()))
        .collect();
    let start = Instant::now();
    let mut duplicates = 0;
    for batch in items.chunks(4096) {
        duplicates += d
            .push_batch(batch, threads)
            .iter()
            .filter(|x| !x.is_keep())
            .count();
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(DedupBench {
        records: data.len(),
        seconds,
        records_per_s: data.len() as f64 / seconds.max(1e-9),
        duplicates,
        planted: data.iter().filter(|r| r.planted).count(),
        threads,
    })
}
