//! `distill bench train`: tokens/s and peak memory of one training step (forward,
//! backward, clipping, AdamW) of the student, LoRA and full, next to PyTorch eager on
//! the same shapes and threads when `torch` is installed. Each configuration runs in
//! its own process (this binary with `--worker`, or Python) so peak RSS is its own.

use anyhow::{Context, bail};
use sandbox::artifacts::{ArtifactStore, FetchMode, SMOLLM2_135M_GGUF};
use sft::bench::{TrainBenchConfig, TrainBenchResult, bench_train};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// The PyTorch baseline, embedded so an installed binary can run it.
const TORCH_SCRIPT: &str = include_str!("../../scripts/bench_train_torch.py");

/// Arguments of `distill bench train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Model: a GGUF file or Hugging Face directory. Default: the cached SmolLM2-135M.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Modes to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "lora,full")]
    modes: Vec<String>,
    /// Sequences per step.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 256)]
    seq: usize,
    /// Timed steps per configuration (after one warmup step).
    #[arg(long, default_value_t = 3)]
    steps: u64,
    /// LoRA rank.
    #[arg(long, default_value_t = 16)]
    lora_rank: usize,
    /// Python interpreter with torch (+ transformers, peft) for the baseline.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Run one configuration in this process and print its result as JSON (internal).
    #[arg(long, hide = true)]
    worker: bool,
}

pub fn execute(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let model = match &args.model {
        Some(p) => p.clone(),
        None => ArtifactStore::from_env(FetchMode::Online).file(&SMOLLM2_135M_GGUF)?,
    };
    for mode in &args.modes {
        if mode != "lora" && mode != "full" {
            bail!("--modes: unknown mode `{mode}` (expected lora, full)");
        }
    }
    if args.worker {
        let [mode] = args.modes.as_slice() else {
            bail!("--worker runs exactly one mode");
        };
        let result = bench_train(&config(&args, &model, mode == "full"))?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(ExitCode::SUCCESS);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let script = tempfile::Builder::new()
        .prefix("bench_train_torch")
        .suffix(".py")
        .tempfile()?;
    std::fs::write(script.path(), TORCH_SCRIPT)?;
    let has_torch = Command::new(&args.python)
        .args(["-c", "import torch, transformers, peft"])
        .output()
        .is_ok_and(|o| o.status.success());
    println!(
        "training step, {} × {} tokens, f32, {threads} CPU threads, {} timed step(s) after a warmup",
        args.batch, args.seq, args.steps
    );
    println!("model: {}", model.display());
    println!(
        "{:<6} {:>14} {:>14} {:>9} {:>12} {:>12} {:>9}",
        "mode", "distill tok/s", "torch tok/s", "speed", "distill RSS", "torch RSS", "memory"
    );
    for mode in &args.modes {
        let ours = run_worker(&args, &model, mode)?;
        let config_file = tempfile::NamedTempFile::new()?;
        std::fs::write(config_file.path(), serde_json::to_vec(&ours.model_config)?)?;
        println!("{mode}: distill ran on the {}", ours.device);
        let torch = if has_torch {
            Some(run_torch(
                &args,
                script.path(),
                config_file.path(),
                (mode, &ours.device),
                threads,
            )?)
        } else {
            None
        };
        let gib = |b: Option<u64>| {
            b.map_or("?".to_string(), |b| {
                format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
            })
        };
        let (t_tps, t_rss, speed, mem) = match &torch {
            Some(t) => (
                format!("{:.0}", t.tokens_per_s),
                gib(t.peak_rss_bytes),
                format!("{:.2}×", ours.tokens_per_s / t.tokens_per_s),
                match (ours.peak_rss_bytes, t.peak_rss_bytes) {
                    (Some(a), Some(b)) => format!("{:.2}×", a as f64 / b as f64),
                    _ => "?".into(),
                },
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<6} {:>14.0} {:>14} {:>9} {:>12} {:>12} {:>9}",
            mode,
            ours.tokens_per_s,
            t_tps,
            speed,
            gib(ours.peak_rss_bytes),
            t_rss,
            mem
        );
    }
    if has_torch {
        println!(
            "speed = distill tok/s ÷ torch tok/s (higher is better); memory = distill peak RSS ÷ torch peak RSS (lower is better)"
        );
    } else {
        println!(
            "no baseline: `{} -c 'import torch, transformers, peft'` failed (pip install torch transformers peft)",
            args.python
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn config(args: &TrainArgs, model: &std::path::Path, full: bool) -> TrainBenchConfig {
    TrainBenchConfig {
        model: model.to_path_buf(),
        full,
        lora_rank: args.lora_rank,
        batch: args.batch,
        seq: args.seq,
        steps: args.steps,
        seed: 0,
    }
}

/// What the PyTorch script reports.
#[derive(Debug, serde::Deserialize)]
struct TorchResult {
    tokens_per_s: f64,
    peak_rss_bytes: Option<u64>,
}

fn last_json_line(out: &std::process::Output, what: &str) -> anyhow::Result<String> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(str::to_string)
        .with_context(|| format!("{what} printed nothing"))
}

/// The flags both sides share: `--batch`, `--seq`, `--steps`, `--lora-rank`.
fn shape_args(args: &TrainArgs) -> [String; 8] {
    [
        "--batch".into(),
        args.batch.to_string(),
        "--seq".into(),
        args.seq.to_string(),
        "--steps".into(),
        args.steps.to_string(),
        "--lora-rank".into(),
        args.lora_rank.to_string(),
    ]
}

fn run_worker(
    args: &TrainArgs,
    model: &std::path::Path,
    mode: &str,
) -> anyhow::Result<TrainBenchResult> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["bench", "train", "--worker", "--modes", mode])
        .arg("--model")
        .arg(model)
        .args(shape_args(args))
        .output()
        .context("starting the benchmark worker")?;
    let line = last_json_line(&out, &format!("distill {mode} worker"))?;
    serde_json::from_str(&line).with_context(|| format!("worker output: {line}"))
}

fn run_torch(
    args: &TrainArgs,
    script: &std::path::Path,
    config: &std::path::Path,
    (mode, device): (&str, &str),
    threads: usize,
) -> anyhow::Result<TorchResult> {
    let out = Command::new(&args.python)
        .arg(script)
        .arg("--config")
        .arg(config)
        .args(["--mode", mode, "--device", device])
        .args(["--threads", &threads.to_string()])
        .args(shape_args(args))
        .output()
        .context("starting the PyTorch baseline")?;
    let line = last_json_line(&out, &format!("torch {mode} baseline"))?;
    serde_json::from_str(&line).with_context(|| format!("torch output: {line}"))
}
