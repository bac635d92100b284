//! `distill data split FILE --train T --eval E`: deterministic by seed; all samples of
//! one problem land on the same side.

use super::read_records;
use datasets::jsonl::JsonlWriter;
use datasets::records::{DpoExample, DpoRecord, SftExample, SftRecord};
use datasets::split::{Side, SplitConfig, dpo_group, sft_group, side_of};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `distill data split`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file.
    input: PathBuf,
    /// Train output (appended to).
    #[arg(long)]
    train: PathBuf,
    /// Eval output (appended to).
    #[arg(long)]
    eval: PathBuf,
    /// Expected fraction of problems sent to eval.
    #[arg(long, default_value_t = SplitConfig::default().eval_fraction)]
    eval_fraction: f64,
    /// Seed of the assignment.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The file holds DPO pairs (default: SFT records).
    #[arg(long)]
    dpo: bool,
    /// Skip bad records instead of stopping (each is reported).
    #[arg(long)]
    lenient: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.eval_fraction),
        "--eval-fraction must be between 0 and 1, got {}",
        args.eval_fraction
    );
    let config = SplitConfig {
        eval_fraction: args.eval_fraction,
        seed: args.seed,
    };
    let (train, eval) = if args.dpo {
        let (examples, _) = read_records::<DpoExample>(&args.input, args.lenient)?;
        let records: Vec<DpoRecord> = examples
            .iter()
            .filter_map(|(_, e)| e.to_dpo_record())
            .collect();
        write_split(&records, |r| side_of(&dpo_group(r), config), &args)?
    } else {
        let (examples, _) = read_records::<SftExample>(&args.input, args.lenient)?;
        let records: Vec<SftRecord> = examples
            .iter()
            .filter_map(|(_, e)| e.to_sft_record())
            .collect();
        write_split(&records, |r| side_of(&sft_group(r), config), &args)?
    };
    println!("train {train}, eval {eval}");
    Ok(ExitCode::SUCCESS)
}

fn write_split<T: serde::Serialize>(
    records: &[T],
    side: impl Fn(&T) -> Side,
    args: &Args,
) -> anyhow::Result<(usize, usize)> {
    let mut train = JsonlWriter::<T>::append(&args.train)?;
    let mut eval = JsonlWriter::<T>::append(&args.eval)?;
    let (mut n_train, mut n_eval) = (0, 0);
    for record in records {
        match side(record) {
            Side::Train => {
                train.write(record)?;
                n_train += 1;
            }
            Side::Eval => {
                eval.write(record)?;
                n_eval += 1;
            }
        }
    }
    train.finish()?;
    eval.finish()?;
    Ok((n_train, n_eval))
}
