//! Subcommand definitions and dispatch.

mod bench;
mod data;
mod plot;
mod sandbox;
mod setup;
mod sft;
mod synth;

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
    /// Render a training run's metrics.jsonl curves to PNG.
    Plot(plot::Args),
}

/// Runs the parsed command; the exit code says whether it succeeded.
pub fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Setup(args) => setup::execute(args),
        Command::Data(command) => data::execute(command),
        Command::Sandbox(command) => sandbox::execute(command),
        Command::Synth(args) => synth::execute(*args),
        Command::Bench(command) => bench::execute(command),
        Command::Sft(args) => sft::execute(*args),
        Command::Plot(args) => plot::execute(args),
    }
}
