//! `distill data validate FILE... [--kind K] [--lenient]`.

use super::read_records;
use datasets::records::{Attempt, DpoExample, Problem, SftExample};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The record kinds a file can hold.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// `Problem` records.
    Problem,
    /// `Attempt` journal lines.
    Attempt,
    /// SFT records (ours or any TRL SFT shape).
    Sft,
    /// DPO records (ours or any TRL preference shape).
    Dpo,
}

/// Arguments of `distill data validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to check (JSON Lines, plain or gzip).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// What the files hold.
    #[arg(long, value_enum, default_value = "sft")]
    kind: Kind,
    /// Keep going after a bad record (every bad record is still reported).
    #[arg(long)]
    lenient: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let mut total_bad = 0;
    for file in &args.files {
        let (good, bad) = count(file, args.kind, args.lenient)?;
        println!("{}: {good} records, {bad} bad", file.display());
        total_bad += bad;
    }
    Ok(if total_bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn count(path: &Path, kind: Kind, lenient: bool) -> anyhow::Result<(usize, usize)> {
    let (good, bad) = match kind {
        Kind::Problem => read_records::<Problem>(path, lenient).map(|(r, b)| (r.len(), b))?,
        Kind::Attempt => read_records::<Attempt>(path, lenient).map(|(r, b)| (r.len(), b))?,
        Kind::Sft => read_records::<SftExample>(path, lenient).map(|(r, b)| (r.len(), b))?,
        Kind::Dpo => read_records::<DpoExample>(path, lenient).map(|(r, b)| (r.len(), b))?,
    };
    Ok((good, bad))
}
