//! Subcommand definitions and dispatch.

mod bench;
mod bench_kd;
mod bench_train;
mod data;
mod demo;
mod dpo;
mod eval;
mod kd;
mod plot;
mod progress;
mod sandbox;
mod setup;
mod sft;
mod synth;
mod synth_pairs;
mod synth_problems;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// distill: turn a strong teacher model into a better small model.
#[derive(Debug, Parser)]
#[command(name = "distill", version, about)]
pub struct Cli {
    /// More log output (-v: info from all crates, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch, verify and build the Python runtime and data into the cache.
    Setup(setup::Args),
    /// The whole recipe on embedded defaults: synth → SFT → DPO → eval → report.
    Demo(Box<demo::Args>),
    /// Inspect, check and transform data files.
    #[command(subcommand)]
    Data(data::Command),
    /// Run Python in the sandbox.
    #[command(subcommand)]
    Sandbox(sandbox::Command),
    /// Benchmarks that print ratios against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(bench::Command),
    /// Teacher answers checked in the sandbox with error feedback → verified SFT and DPO data.
    Synth(Box<synth::Args>),
    /// Supervised fine-tuning (LoRA or full) of a GGUF or Hugging Face model on SFT data.
    Sft(Box<sft::Args>),
    /// pass@k of a model on a benchmark, checked in the sandbox; or --compare two evals.
    Eval(Box<eval::Args>),
    /// Preference optimization (DPO and variants; LoRA or full) on preference pairs.
    Dpo(Box<dpo::Args>),
    /// Logit distillation (KL or generalized JSD) from a teacher sharing the student's tokenizer.
    Kd(Box<kd::Args>),
    /// Render a training run's metrics.jsonl curves to PNG.
    Plot(plot::Args),
}

/// Runs the parsed command; the exit code says whether it succeeded.
pub fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Setup(args) => setup::execute(args),
        Command::Demo(args) => demo::execute(*args),
        Command::Data(command) => data::execute(command),
        Command::Sandbox(command) => sandbox::execute(command),
        Command::Synth(args) => synth::execute(*args),
        Command::Bench(command) => bench::execute(command),
        Command::Sft(args) => sft::execute(*args),
        Command::Eval(args) => eval::execute(*args),
        Command::Dpo(args) => dpo::execute(*args),
        Command::Kd(args) => kd::execute(*args),
        Command::Plot(args) => plot::execute(args),
    }
}
