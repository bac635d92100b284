//! `distill synth pairs`: DPO pairs across two runs, the teacher's verified answers
//! (`sft.jsonl`) as chosen and another run's failed answers on the same problems (the
//! student's own samples: on-policy rejections) as rejected (see `synth::cross_pairs`).

use super::data::read_sft;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use synth::DpoRejected;
use synth::cross_pairs::{ChosenAnswer, CrossPairOptions, cross_pairs, read_rejected_run};

/// Arguments of `distill synth pairs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Verified answers (a run's `sft.jsonl`; records need `meta.problem_id`).
    #[arg(long)]
    chosen: PathBuf,
    /// A synth run directory (finished or not) whose failed answers are the rejected
    /// side, e.g. the student's `distill synth --teacher local:STUDENT.gguf` run on the
    /// same problems file.
    #[arg(long)]
    rejected_run: PathBuf,
    /// Output DPO file (replaced, written atomically).
    #[arg(long)]
    out: PathBuf,
    /// Most pairs per problem (default: as many as both sides allow).
    #[arg(long)]
    per_problem: Option<usize>,
    /// Only failures that ran (not syntax errors or missing code) become rejections.
    #[arg(long)]
    executed_only: bool,
    /// Skip bad chosen records (each is reported) instead of stopping.
    #[arg(long)]
    lenient: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let (records, bad) = read_sft(&args.chosen, args.lenient)?;
    let chosen: Vec<ChosenAnswer> = records
        .into_iter()
        .map(|(line, record)| ChosenAnswer { line, record })
        .collect();
    let run = read_rejected_run(&args.rejected_run)
        .with_context(|| format!("reading the run {}", args.rejected_run.display()))?;
    let options = CrossPairOptions {
        per_problem: args.per_problem,
        rejected: if args.executed_only {
            DpoRejected::ExecutedOnly
        } else {
            DpoRejected::AnyFailure
        },
        strip_demo_code: run.strip_demo_code,
    };
    let out = cross_pairs(&chosen, &run.attempts, options);
    let report = &out.report;
    for skip in &report.skipped {
        eprintln!(
            "{}:{}: {}: {}",
            args.chosen.display(),
            skip.line,
            skip.field,
            skip.reason
        );
    }
    for problem in &report.prompt_mismatch {
        eprintln!(
            "{problem}: the two runs asked with different prompts (another template or \
             problems file); not paired"
        );
    }
    anyhow::ensure!(
        args.lenient || report.skipped.is_empty(),
        "{} chosen record(s) cannot be paired (see above); --lenient skips them",
        report.skipped.len()
    );
    synth::run::write_jsonl(&args.out, &out.pairs)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{} pairs from {} problems -> {} (rejected from {}: {} attempts)\n\
         problems with chosen answers but no failure: {}; with failures but no chosen \
         answer: {}; identical answers dropped: {}; prompt mismatches: {}; bad chosen \
         records: {}",
        out.pairs.len(),
        report.problems_paired,
        args.out.display(),
        run.model,
        run.attempts.len(),
        report.no_rejected,
        report.no_chosen,
        report.identical,
        report.prompt_mismatch.len(),
        bad + report.skipped.len(),
    );
    Ok(if out.pairs.is_empty() {
        eprintln!("error: no pairs");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
