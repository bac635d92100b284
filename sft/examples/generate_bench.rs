//! Generation speed of one model: prefill and decode tokens per second, greedy, on
//! a fixed coding prompt. Threads follow `RAYON_NUM_THREADS`. Besides wall-clock
//! rates it prints decode tokens per CPU-second of this process (from
//! `/proc/self/stat`), which stays meaningful on a busy machine.
//!
//! With `--concurrent N`, N generations run at once from one loaded model (as the
//! local teacher runs them) and the aggregate decode rate is printed too.
//!
//! A GGUF file is kept quantized, with f32 copies of the projections for prefill
//! (the default load); `--quantized-prefill` prefills on the blocks too, `--f32`
//! dequantizes everything.
//!
//! With `--prompt-lines N`, the user message also carries N numbered lines of code (a
//! long prompt like a feedback turn's, which quotes the last answer and its error), so
//! prefill is measured at the prompt lengths synth sees.
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p distill-sft --example generate_bench -- MODEL.gguf [TOKENS] [--f32 | --quantized-prefill] [--concurrent N] [--prompt-lines N]`

use datasets::records::Message;
use sft::generate::{GenerateParams, LoadOptions, load_with};
use std::path::PathBuf;

/// User + system CPU seconds of this process so far (Linux), if readable.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // after the command name: state is field 3, utime 14, stime 15 (1-based)
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: generate_bench MODEL [TOKENS] [--f32 | --quantized-prefill] [--concurrent N] [--prompt-lines N]")?,
    );
    let tokens: usize = match args.get(1) {
        Some(t) if !t.starts_with("--") => t.parse()?,
        _ => 128,
    };
    let opts = LoadOptions {
        dequantize: args.iter().any(|a| a == "--f32"),
        quantized_prefill: args.iter().any(|a| a == "--quantized-prefill"),
        ..LoadOptions::default()
    };
    let t0 = std::time::Instant::now();
    let g = load_with(&path, &opts)?;
    println!(
        "loaded {} in {:.2}s ({:?})",
        g.name,
        t0.elapsed().as_secs_f64(),
        g
    );
    let prompt_lines: usize = match args.iter().position(|a| a == "--prompt-lines") {
        Some(i) => args.get(i + 1).ok_or("--prompt-lines N")?.parse()?,
        None => 0,
    };
    let mut request = String::from(
        "Write a Python function `fib(n)` that returns the n-th Fibonacci number, \
         with a docstring and a few doctests.",
    );
    if prompt_lines > 0 {
        request.push_str("\nYour last answer failed. It was:\n```python\n");
        for i in 0..prompt_lines {
            request.push_str(&format!(
                "    value_{i} = compute(items[{i}], limit={})\n",
                i * 7
            ));
        }
        request.push_str("```\nFix it.");
    }
    let msgs = [Message::user(request)];
    let params = GenerateParams {
        max_new_tokens: tokens,
        ..GenerateParams::default()
    };
    // warm-up (first-use allocations, repacking of quantized weights)
    g.chat(
        &msgs,
        &GenerateParams {
            max_new_tokens: 4,
            ..params.clone()
        },
    )?;
    let cpu0 = cpu_seconds();
    let out = g.chat(&msgs, &params)?;
    let cpu = cpu_seconds().zip(cpu0).map(|(a, b)| a - b);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    println!(
        "threads {threads}: prompt {} tokens, prefill {:.2}s ({:.1} tok/s); {} tokens decoded in {:.2}s: {:.2} tok/s wall; finish {:?}",
        out.prompt_tokens,
        out.prefill_seconds,
        out.prompt_tokens as f64 / out.prefill_seconds,
        out.completion_tokens.saturating_sub(1),
        out.decode_seconds,
        out.tokens_per_second,
        out.finish_reason,
    );
    if let Some(cpu) = cpu {
        let wall = out.prefill_seconds + out.decode_seconds;
        println!(
            "CPU {cpu:.2}s over {wall:.2}s wall; whole generation {:.2} tokens per CPU-second",
            out.completion_tokens as f64 / cpu
        );
    }
    let concurrent: usize = match args.iter().position(|a| a == "--concurrent") {
        Some(i) => args.get(i + 1).ok_or("--concurrent N")?.parse()?,
        None => 1,
    };
    if concurrent > 1 {
        let t0 = std::time::Instant::now();
        let tokens: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..concurrent)
                .map(|_| s.spawn(|| g.chat(&msgs, &params).map(|o| o.completion_tokens)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().and_then(|r| r.ok()).unwrap_or(0))
                .sum()
        });
        let wall = t0.elapsed().as_secs_f64();
        println!(
            "{concurrent} concurrent generations: {tokens} tokens in {wall:.2}s = {:.2} tok/s aggregate (prefill included)",
            tokens as f64 / wall
        );
    }
    Ok(())
}
