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
    /// Rounds over the whole set, alternating sandbox and native (more stable numbers).
    #[arg(long, default_value_t = 3)]
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
    let isolation = if args.threads {
        Workers::Threads
    } else {
        super::sandbox::process_workers()?
    };
    let opened = std::time::Instant::now();
    let sandbox = Sandbox::open(SandboxOptions {
        workers: args.workers,
        isolation,
        ..SandboxOptions::default()
    })?;
    let open_time = opened.elapsed();
    let python = native::resolve_python(&args.python)?;
    // Warm-up outside the timed region: worker start-up, first-touch page faults.
    let warm: Vec<BenchProgram> = programs.iter().take(8).cloned().collect();
    compare_with_native(&sandbox, &python, &warm, Duration::from_secs(10), 1)?;
    let rounds = args.rounds.max(1);
    let report = compare_with_native(
        &sandbox,
        &python,
        &programs,
        Duration::from_secs(10),
        rounds,
    )?;
    println!(
        "HumanEval check programs: {} ({} canonical + {} return-None), {} round(s) alternating sides, {} workers",
        report.programs,
        tasks.len(),
        tasks.len(),
        rounds,
        report.workers
    );
    println!(
        "sandbox executor: {}",
        if args.threads {
            "threads"
        } else {
            "worker processes"
        }
    );
    println!("native baseline: {} -I -S -c CODE", python.display());
    println!(
        "sandbox open (load cached compiled runtime, prelink, start pool): {:.0} ms",
        open_time.as_secs_f64() * 1e3
    );
    for (i, round) in report.rounds.iter().enumerate() {
        println!(
            "round {}: sandbox {:.2} s, native {:.2} s, ratio {:.2}x",
            i + 1,
            round.sandbox.as_secs_f64(),
            round.native.as_secs_f64(),
            round.native.as_secs_f64() / round.sandbox.as_secs_f64()
        );
    }
    println!("{:<10} {:>12} {:>10}", "runner", "execs/s", "passed");
    println!(
        "{:<10} {:>12.1} {:>10}",
        "sandbox",
        report.sandbox_per_s(),
        report.sandbox_passed
    );
    println!(
        "{:<10} {:>12.1} {:>10}",
        "native",
        report.native_per_s(),
        report.native_passed
    );
    println!(
        "mean time inside the sandbox per job: {:.2} ms",
        report.sandbox_job_mean.as_secs_f64() * 1e3
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
