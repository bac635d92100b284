//! `distill data convert IN OUT --to sft|dpo`: TRL shapes to our versioned records.

use super::{read_records, read_sft};
use anyhow::Context;
use datasets::jsonl::JsonlWriter;
use datasets::records::{DpoExample, DpoRecord, SftRecord};
use std::path::PathBuf;
use std::process::ExitCode;

/// Target record kind.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Target {
    /// `SftRecord`s.
    Sft,
    /// `DpoRecord`s.
    Dpo,
}

/// Arguments of `distill data convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file (JSON Lines, plain or gzip).
    input: PathBuf,
    /// Output file (appended to).
    output: PathBuf,
    /// What to convert to.
    #[arg(long, value_enum)]
    to: Target,
    /// Skip bad records instead of stopping (each is reported).
    #[arg(long)]
    lenient: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let written = match args.to {
        Target::Sft => {
            let (records, _) = read_sft(&args.input, args.lenient)?;
            let mut out = JsonlWriter::<SftRecord>::append(&args.output)?;
            for (_, record) in &records {
                out.write(record)?;
            }
            out.finish()?;
            records.len()
        }
        Target::Dpo => {
            let (examples, _) = read_records::<DpoExample>(&args.input, args.lenient)?;
            let mut out = JsonlWriter::<DpoRecord>::append(&args.output)?;
            let mut written = 0;
            for (line, example) in &examples {
                let record = example.to_dpo_record().with_context(|| {
                    format!(
                        "{}:{line}: prompt: no prompt/chosen/rejected dialogue",
                        args.input.display()
                    )
                })?;
                out.write(&record)?;
                written += 1;
            }
            out.finish()?;
            written
        }
    };
    println!("{written} records written to {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}
