//! `distill data stats FILE...`: record counts, teachers, per-role length quantiles.

use super::read_sft;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `distill data stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SFT files (ours or TRL shapes).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Skip bad records instead of stopping (each is reported).
    #[arg(long)]
    lenient: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let mut records = Vec::new();
    for file in &args.files {
        let (read, _) = read_sft(file, args.lenient)?;
        records.extend(read.into_iter().map(|(_, r)| r));
    }
    let stats = datasets::stats::sft_stats(records.iter());
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(ExitCode::SUCCESS)
}
