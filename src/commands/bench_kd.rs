//! `distill bench kd`: peak memory and time of forward + backward of the distillation
//! loss, composed from candle ops (unchunked) vs the fused chunked op, on the same
//! random logits in this process (the measuring lives in `sft::kd::bench`).

use sft::kd::bench::{KdBenchConfig, KdBenchVariant, bench_kd};
use sft::kd::loss::KdLoss;
use std::process::ExitCode;

/// Arguments of `distill bench kd`.
#[derive(Debug, clap::Args)]
pub struct KdArgs {
    /// Rows (trained positions) of logits.
    #[arg(long, default_value_t = 512)]
    rows: usize,
    /// Vocabulary size (Qwen2.5's by default).
    #[arg(long, default_value_t = 151_936)]
    vocab: usize,
    /// β of the generalized JSD: 0 = forward KL, 1 = reverse KL.
    #[arg(long, default_value_t = 0.5)]
    beta: f64,
    /// Softmax temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
}

pub fn execute(args: KdArgs) -> anyhow::Result<ExitCode> {
    let cfg = KdBenchConfig {
        rows: args.rows,
        vocab: args.vocab,
        loss: KdLoss {
            beta: args.beta,
            temperature: args.temperature,
        },
        ..KdBenchConfig::default()
    };
    let r = bench_kd(&cfg)?;
    let mib = |b: Option<u64>| b.map_or("?".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0));
    println!(
        "kd loss forward + backward, {} rows × {} vocab, beta {}, T {}, f32 on the CPU",
        cfg.rows, cfg.vocab, args.beta, args.temperature
    );
    println!(
        "one (rows, vocab) f32 tensor: {} (inputs: student + teacher, allocated before)",
        mib(Some(r.logits_bytes))
    );
    println!(
        "{:<10} {:>10} {:>16} {:>12} {:>14}",
        "path", "seconds", "peak above base", "in tensors", "loss"
    );
    // peak over the size of one (rows, vocab) tensor
    let line = |name: &str, v: &KdBenchVariant| {
        let tensors = v.peak_extra_bytes.map_or("?".into(), |b| {
            format!("{:.1}", b as f64 / r.logits_bytes.max(1) as f64)
        });
        println!(
            "{name:<10} {:>10.3} {:>16} {:>12} {:>14.4}",
            v.seconds,
            mib(v.peak_extra_bytes),
            tensors,
            v.loss
        );
    };
    line("composed", &r.composed);
    line("fused", &r.fused);
    if let (Some(c), Some(f)) = (r.composed.peak_extra_bytes, r.fused.peak_extra_bytes) {
        println!(
            "memory: fused uses {:.2}× less peak memory than composed",
            c as f64 / f.max(1) as f64
        );
    }
    println!(
        "time: fused {:.2}× faster; gradients agree within {:.1e} (relative)",
        r.composed.seconds / r.fused.seconds,
        r.grad_rel_diff
    );
    Ok(ExitCode::SUCCESS)
}
