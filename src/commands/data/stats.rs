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
    /// Measure lengths in this GGUF model's tokens (default: characters).
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let mut records = Vec::new();
    for file in &args.files {
        let (read, _) = read_sft(file, args.lenient)?;
        records.extend(read.into_iter().map(|(_, r)| r));
    }
    let stats = match &args.model {
        None => datasets::stats::sft_stats(records.iter()),
        Some(model) => {
            let tok = datasets::tokenizer::GgufTokenizer::from_file(model)?;
            datasets::stats::sft_stats_by(records.iter(), |text| {
                tok.encode(text).map_or(0, |ids| ids.len())
            })
        }
    };
    let unit = if args.model.is_some() {
        "tokens"
    } else {
        "characters"
    };
    println!("lengths in {unit}");
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(ExitCode::SUCCESS)
}
