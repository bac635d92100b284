//! Cost of one top-p draw over a 151,936-id vocabulary (Qwen2.5's), temperature 0.7,
//! top-p 0.95, on fixed logits; prints the mean time per draw and a checksum of the
//! drawn ids (equal across versions of the sampler that draw the same tokens).
//!
//! `cargo run --release -p distill-sft --example sample_bench`

use sft::generate::{Sampler, SamplingConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let vocab = 151_936;
    // A spread-out distribution with a few strong candidates, as logits often are.
    let logits: Vec<f32> = (0..vocab)
        .map(|i| (i as f32 * 0.7319).sin() * 8.0 + if i % 1000 == 0 { 12.0 } else { 0.0 })
        .collect();
    let mut sampler = Sampler::new(SamplingConfig {
        temperature: 0.7,
        top_p: 0.95,
        seed: 1,
    })?;
    let draws = 200;
    let start = std::time::Instant::now();
    let mut checksum = 0u64;
    for _ in 0..draws {
        checksum += u64::from(sampler.sample(&logits)?);
    }
    println!(
        "{:.2} ms per draw over {vocab} ids (checksum of drawn ids {checksum})",
        start.elapsed().as_secs_f64() * 1000.0 / f64::from(draws)
    );
    Ok(())
}
