//! `distill plot RUN_DIR`: the run's `metrics.jsonl` curves as `RUN_DIR/metrics.png`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `distill plot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run directory written by `distill sft` (holding `metrics.jsonl`).
    run_dir: PathBuf,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let report = sft::plot::plot_run(&args.run_dir)?;
    println!("wrote {}", report.png.display());
    for c in &report.curves {
        match c.ranges() {
            Some(((x0, x1), (y0, y1))) => println!(
                "  {:<14} steps {x0}..{x1}  values {y0:.6}..{y1:.6}  ({} points)",
                c.name,
                c.points.len()
            ),
            None => println!("  {:<14} no data", c.name),
        }
    }
    Ok(ExitCode::SUCCESS)
}
