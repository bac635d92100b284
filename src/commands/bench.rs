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
    /// MinHash + LSH near-dedup of synthetic code records, next to Python `datasketch`
    /// on the same records when it is installed.
    Dedup(DedupArgs),
    /// The synth pipeline against a scripted in-process teacher of fixed latency:
    /// problems/s next to the ideal `concurrency / latency`.
    Synth(SynthArgs),
    /// One training step (forward, backward, AdamW) of the student, LoRA and full:
    /// tokens/s and peak RSS next to PyTorch eager when torch is installed.
    Train(super::bench_train::TrainArgs),
    /// Distillation loss forward + backward at a large vocabulary: peak memory and
    /// time of the composed (unchunked) path vs the fused chunked op.
    Kd(super::bench_kd::KdArgs),
}

/// Arguments of `distill bench synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Problems to run (at least 10 rounds of `concurrency` keeps the ramp small).
    #[arg(long, default_value_t = 640)]
    problems: usize,
    /// Teacher latency per answer.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// Teacher slots.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// Arguments of `distill bench dedup`.
#[derive(Debug, clap::Args)]
pub struct DedupArgs {
    /// Records in the synthetic corpus (10% planted near duplicates).
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Python interpreter for the datasketch baseline.
    #[arg(long, default_value = "python3")]
    python: String,
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
    /// Which programs: the canonical solutions with their tests (all pass), the same
    /// tests on a `return None` body (all fail), or both.
    #[arg(long, value_enum, default_value = "canonical")]
    programs: ProgramSet,
    /// How many of the slowest programs to list with their time on each side.
    #[arg(long, default_value_t = 5)]
    slowest: usize,
}

/// The HumanEval program sets `distill bench sandbox` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgramSet {
    /// `prompt + canonical_solution + test + check(entry_point)`.
    Canonical,
    /// The same with the body replaced by `return None`.
    Broken,
    /// Both sets.
    Both,
}

pub fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Sandbox(args) => bench_sandbox(args),
        Command::Dedup(args) => bench_dedup(args),
        Command::Synth(args) => bench_synth(args),
        Command::Train(args) => super::bench_train::execute(args),
        Command::Kd(args) => super::bench_kd::execute(args),
    }
}

fn bench_sandbox(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let store = ArtifactStore::from_env(FetchMode::Online);
    let tasks = load_humaneval(store.file(&HUMANEVAL)?).context("loading HumanEval")?;
    let mut programs = Vec::new();
    for task in &tasks {
        let problem = task.to_problem();
        if args.programs != ProgramSet::Broken {
            programs.push(BenchProgram {
                name: format!("{} canonical", task.task_id),
                code: problem.program_for_completion(&task.canonical_solution),
            });
        }
        if args.programs != ProgramSet::Canonical {
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
        "HumanEval check programs: {} ({:?} set), {} round(s) alternating sides, {} workers",
        report.programs, args.programs, rounds, report.workers
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
    let slowest = report.slowest(args.slowest);
    if !slowest.is_empty() {
        println!("slowest in the sandbox (mean per round; native: the subprocess's wall time):");
    }
    for (i, times) in slowest {
        println!(
            "  {:<28} sandbox {:>8.1} ms, native {:>8.1} ms",
            programs[i].name,
            times.sandbox.as_secs_f64() * 1e3,
            times.native.as_secs_f64() * 1e3
        );
    }
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

/// The datasketch baseline script, written to a temp file when the bench runs.
const DATASKETCH_SCRIPT: &str = include_str!("../../datasets/scripts/datasketch_dedup.py");

fn bench_dedup(args: DedupArgs) -> anyhow::Result<ExitCode> {
    use datasets::dedup::{DedupConfig, bench_dedup, synthetic};
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "MinHash + LSH dedup of {} synthetic code records (shingle 5, 32 bands x 8 rows, threshold 0.7)",
        args.records
    );
    println!(
        "{:<22} {:>12} {:>12} {:>10}",
        "runner", "records/s", "duplicates", "planted"
    );
    let mut ours_one = None;
    for threads in [1, cores] {
        let r = bench_dedup(args.records, DedupConfig::default(), threads)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "{:<22} {:>12.0} {:>12} {:>10}",
            format!(
                "distill ({threads} thread{})",
                if threads == 1 { "" } else { "s" }
            ),
            r.records_per_s,
            r.duplicates,
            r.planted
        );
        ours_one.get_or_insert(r.records_per_s);
        if cores == 1 {
            break;
        }
    }
    let has_datasketch = std::process::Command::new(&args.python)
        .args(["-c", "import datasketch"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_datasketch {
        println!("datasketch: not installed (pip install datasketch), baseline skipped");
        return Ok(ExitCode::SUCCESS);
    }
    let dir = tempfile::tempdir()?;
    let corpus = dir.path().join("corpus.jsonl");
    synthetic::write_jsonl(
        &corpus,
        &synthetic::corpus(synthetic::SyntheticOptions {
            records: args.records,
            dup_fraction: 0.1,
            edit_probability: 0.5,
            seed: 7,
        }),
    )?;
    let script = dir.path().join("datasketch_dedup.py");
    std::fs::write(&script, DATASKETCH_SCRIPT)?;
    let out = std::process::Command::new(&args.python)
        .arg(&script)
        .arg(&corpus)
        .output()
        .context("running the datasketch baseline")?;
    anyhow::ensure!(
        out.status.success(),
        "datasketch baseline failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let baseline: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let rate = baseline["records_per_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "{:<22} {:>12.0} {:>12} {:>10}",
        "datasketch (1 thread)",
        rate,
        baseline["duplicates"].as_u64().unwrap_or(0),
        "-"
    );
    if let Some(ours) = ours_one {
        println!(
            "ratio distill/datasketch, one thread each: {:.1}x",
            ours / rate
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_synth(args: SynthArgs) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::open(SandboxOptions {
        isolation: super::sandbox::process_workers()?,
        ..SandboxOptions::default()
    })?;
    let checker = std::sync::Arc::new(synth::Checker::new(
        std::sync::Arc::new(sandbox),
        sandbox::Limits::default(),
        None,
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let r = runtime.block_on(synth::bench_synth(
        checker,
        args.problems,
        args.latency,
        args.concurrency,
    ))?;
    println!(
        "synth pipeline: {} problems, scripted teacher {:.2} s latency x {} slots",
        r.problems, r.latency_s, r.concurrency
    );
    println!(
        "{:.1} problems/s vs ideal {:.1}/s: efficiency {:.3} ({:.1} s, {} accepted)",
        r.problems_per_s, r.ideal_per_s, r.efficiency, r.seconds, r.accepted
    );
    Ok(ExitCode::SUCCESS)
}
