//! The `distill` command line: parses arguments and calls the library crates. Each
//! subcommand lives in its own file under `commands/`.

mod commands;
mod cpu_threads;
mod error_line;
mod malloc_tuning;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    cpu_threads::tune_candle_pool();
    malloc_tuning::keep_freed_memory();
    let cli = commands::Cli::parse();
    init_logging(cli.verbose);
    match commands::execute(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_line::one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the level chosen by `-v`.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,distill=info,sandbox=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
