//! `distill data ...`: inspect, check and transform data files. Each subcommand parses
//! its flags and calls the `datasets` crate; reading helpers shared by them live here.

mod convert;
mod decontaminate;
mod dedup;
mod show_mask;
mod split;
mod stats;
mod validate;

use anyhow::Context;
use datasets::jsonl::{JsonlReader, JsonlWriter, ReadOptions};
use datasets::records::{JsonRecord, SftExample, SftRecord};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Data subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check every record of one or more files; report each bad one as file:line: field: reason.
    Validate(validate::Args),
    /// Counts, teachers and per-role length quantiles of SFT files.
    Stats(stats::Args),
    /// Convert TRL-shaped SFT or DPO data (conversational, prompt/completion) to our records.
    Convert(convert::Args),
    /// Exact and near-duplicate (MinHash + LSH) removal on the answers' code.
    Dedup(dedup::Args),
    /// Drop records that share n-grams with benchmark problems (HumanEval by default).
    Decontaminate(decontaminate::Args),
    /// Deterministic train/eval split that keeps each problem's samples together.
    Split(split::Args),
    /// Print samples with the tokens that are trained marked ⟦like this⟧.
    ShowMask(show_mask::Args),
}

/// Runs a data subcommand.
pub fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate(args) => validate::execute(args),
        Command::Stats(args) => stats::execute(args),
        Command::Convert(args) => convert::execute(args),
        Command::Dedup(args) => dedup::execute(args),
        Command::Decontaminate(args) => decontaminate::execute(args),
        Command::Split(args) => split::execute(args),
        Command::ShowMask(args) => show_mask::execute(args),
    }
}

/// Input, output and report files of a command that filters SFT records.
#[derive(Debug, clap::Args)]
struct FilterFiles {
    /// SFT file (ours or TRL shapes).
    input: PathBuf,
    /// Where the records that pass go (appended to).
    #[arg(long)]
    out: PathBuf,
    /// One line per record with the decision and what it matched.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Skip bad records instead of stopping (each is reported).
    #[arg(long)]
    lenient: bool,
}

impl FilterFiles {
    /// The writer for `--report`, if asked for.
    fn report_writer<T: serde::Serialize>(&self) -> anyhow::Result<Option<JsonlWriter<T>>> {
        Ok(match &self.report {
            Some(path) => Some(JsonlWriter::append(path)?),
            None => None,
        })
    }
}

/// Strict (stop at the first bad record) unless `lenient`.
fn read_options(lenient: bool) -> ReadOptions {
    if lenient {
        ReadOptions::lenient()
    } else {
        ReadOptions::default()
    }
}

/// Reads all records of one file; in lenient mode prints every bad record to stderr
/// (as `file:line: field: reason`) and returns the good ones with the bad count.
fn read_records<T: JsonRecord>(
    path: &Path,
    lenient: bool,
) -> anyhow::Result<(Vec<(u64, T)>, usize)> {
    let mut reader = JsonlReader::<T>::open(path, read_options(lenient))
        .with_context(|| format!("opening {}", path.display()))?;
    let mut records = Vec::new();
    for item in reader.by_ref() {
        let parsed = item?;
        records.push((parsed.line, parsed.record));
    }
    let report = reader.into_report();
    for bad in &report.bad {
        eprintln!("{bad}");
    }
    Ok((records, report.bad.len()))
}

/// Reads SFT data in our shape or any TRL shape, as `SftRecord`s with their lines.
pub(super) fn read_sft(
    path: &Path,
    lenient: bool,
) -> anyhow::Result<(Vec<(u64, SftRecord)>, usize)> {
    let (examples, mut bad) = read_records::<SftExample>(path, lenient)?;
    let mut records = Vec::with_capacity(examples.len());
    for (line, example) in examples {
        match example.to_sft_record() {
            Some(record) => records.push((line, record)),
            None if lenient => {
                eprintln!(
                    "{}:{line}: text: plain-text records have no dialogue",
                    path.display()
                );
                bad += 1;
            }
            None => anyhow::bail!(
                "{}:{line}: text: plain-text records have no dialogue",
                path.display()
            ),
        }
    }
    Ok((records, bad))
}

/// The id of an SFT record in reports: its problem id when known, and its line.
fn record_id(path: &Path, line: u64, record: &SftRecord) -> String {
    match &record.meta.problem_id {
        Some(problem) => format!("{problem}@{}:{line}", path.display()),
        None => format!("{}:{line}", path.display()),
    }
}
