//! Measures the synth pipeline's throughput with a scripted teacher:
//! `cargo run --release -p distill-synth --example bench_synth -- [PROBLEMS] [LATENCY_MS] [CONCURRENCY] [WORKERS]`
//! (defaults 640, 1000, 64, all cores). Prints the `SynthBench` as JSON.

use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (problems, latency_ms, concurrency) = (arg(0, 640), arg(1, 1000), arg(2, 64));
    let workers = args.get(3).and_then(|a| a.parse().ok());
    let checker = Arc::new(synth::Checker::open(workers, sandbox::Limits::default())?);
    let bench = synth::bench_synth(
        checker,
        usize::try_from(problems)?,
        Duration::from_millis(latency_ms),
        usize::try_from(concurrency)?,
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&bench)?);
    Ok(())
}
