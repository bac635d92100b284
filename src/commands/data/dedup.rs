//! `distill data dedup FILE --out KEPT.jsonl`: exact and near-duplicate removal on the
//! code of each record's final answer.

use super::{FilterFiles, read_sft, record_id};
use datasets::dedup::{DedupConfig, DedupResult, Deduper, extract_code};
use datasets::jsonl::JsonlWriter;
use datasets::records::{Role, SftRecord};
use std::process::ExitCode;

/// Arguments of `distill data dedup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    files: FilterFiles,
    /// Estimated Jaccard similarity at which a record is a near duplicate.
    #[arg(long, default_value_t = DedupConfig::default().threshold)]
    threshold: f64,
    /// Tokens per shingle.
    #[arg(long, default_value_t = DedupConfig::default().shingle)]
    shingle: usize,
    /// LSH bands.
    #[arg(long, default_value_t = DedupConfig::default().bands)]
    bands: usize,
    /// Rows per band.
    #[arg(long, default_value_t = DedupConfig::default().rows)]
    rows: usize,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let config = DedupConfig {
        threshold: args.threshold,
        shingle: args.shingle,
        bands: args.bands,
        rows: args.rows,
        ..DedupConfig::default()
    };
    let mut deduper = Deduper::new(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let files = &args.files;
    let (records, _) = read_sft(&files.input, files.lenient)?;
    let ids: Vec<String> = records
        .iter()
        .map(|(line, r)| record_id(&files.input, *line, r))
        .collect();
    let codes: Vec<String> = records.iter().map(|(_, r)| answer_code(r)).collect();
    let items: Vec<(&str, &str)> = ids
        .iter()
        .map(String::as_str)
        .zip(codes.iter().map(String::as_str))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let decisions = deduper.push_batch(&items, threads);
    let mut kept = JsonlWriter::<SftRecord>::append(&files.out)?;
    let mut report = files.report_writer::<DedupResult>()?;
    let mut dropped = 0;
    for ((id, (_, record)), decision) in ids.iter().zip(&records).zip(decisions) {
        if decision.is_keep() {
            kept.write(record)?;
        } else {
            dropped += 1;
        }
        if let Some(report) = report.as_mut() {
            report.write(&DedupResult {
                id: id.clone(),
                decision,
            })?;
        }
    }
    kept.finish()?;
    if let Some(report) = report {
        report.finish()?;
    }
    println!(
        "{} records: kept {}, dropped {dropped} duplicates",
        records.len(),
        records.len() - dropped
    );
    Ok(ExitCode::SUCCESS)
}

/// The code of the last assistant message (the answer being trained on).
fn answer_code(record: &SftRecord) -> String {
    record
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Assistant)
        .map(|m| extract_code(&m.content))
        .unwrap_or_default()
}
