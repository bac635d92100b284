//! `distill bench ...`: benchmarks printing ratios against a baseline run in the same
//! process.

use anyhow::Context;
use datasets::bench::load_humaneval;
use sandbox::artifacts::{ArtifactStore, FetchMode, HUMANEVAL};
use sandbox::bench::{BenchProgram, compare_with_native};
use sandbox::{Sandbox, SandboxOptions, Workers, native};
use std::process::ExitCode;
use std::time::Duration;

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// HumanEval check programs (canonical and broken) through the sandbox vs native
    /// `python3 -I -S` subprocesses, same workers, verdicts compared.
    Sandbox(SandboxArgs),
}

/// Arguments of `distill bench sandbox`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Workers on each side. Default: the number of cores.
    #[arg(long)]
    workers: Option<usize>,
    /// Interpreter for the native baseline (resolved to its real binary once).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Repeat the whole set this many times (more stable numbers).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Run jobs on threads of this process instead of worker processes.
    #[arg(long)]
    threads: bool,
}

pub fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Sandbox(args) => bench_sandbox(args),
    }
}

fn bench_sandbox(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let store = ArtifactStore::from_env(FetchMode::Online);
    let tasks = load_humaneval(store.file(&HUMANEVAL)?).context("loading HumanEval")?;
    let mut programs = Vec::new();
    for _ in 0..args.rounds.max(1) {
        for task in &tasks {
            let problem = task.to_problem();
            programs.push(BenchProgram {
                name: format!("{} canonical", task.task_id),
                code: problem.program_for_completion(&task.canonical_solution),
            });
            programs.push(BenchProgram {
                name: format!("{} return-None", task.task_id),
                code: problem.program_for_completion("    return None\n"),
            });
        }
    }
    let isolation = if args.threads {
        Workers::Threads
    } else {
        super::sandbox::process_workers()?
    };
    let sandbox = Sandbox::open(SandboxOptions {
        workers: args.workers,
        isolation,
        ..SandboxOptions::default()
    })?;
    let python = native::resolve_python(&args.python)?;
    // Warm-up outside the timed region: first-touch page faults, native disk cache.
    let warm: Vec<BenchProgram> = programs.iter().take(8).cloned().collect();
    compare_with_native(&sandbox, &python, &warm, Duration::from_secs(10))?;
    let report = compare_with_native(&sandbox, &python, &programs, Duration::from_secs(10))?;
    println!(
        "HumanEval check programs: {} ({} canonical + {} return-None) x {} round(s), {} workers",
        report.programs,
        tasks.len(),
        tasks.len(),
        args.rounds.max(1),
        report.workers
    );
    println!("native baseline: {}", python.display());
    println!("{:<10} {:>12} {:>10}", "runner", "execs/s", "passed");
    println!(
        "{:<10} {:>12.1} {:>10}",
        "sandbox", report.sandbox_per_s, report.sandbox_passed
    );
    println!(
        "{:<10} {:>12.1} {:>10}",
        "native", report.native_per_s, report.native_passed
    );
    println!("ratio sandbox/native: {:.2}x", report.ratio());
    if report.disagreements.is_empty() {
        println!("verdicts: all {} agree", report.programs);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "verdicts DISAGREE on {}: {}",
            report.disagreements.len(),
            report.disagreements.join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}
