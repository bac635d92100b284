//! Subcommand definitions and dispatch.

mod bench;
mod data;
mod sandbox;
mod setup;

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
}

/// Runs the parsed command; the exit code says whether it succeeded.
pub fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Setup(args) => setup::execute(args),
        Command::Data(command) => data::execute(command),
        Command::Sandbox(command) => sandbox::execute(command),
        Command::Bench(command) => bench::execute(command),
    }
}
