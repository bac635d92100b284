//! A small seeded random generator whose whole state is one `u64`, so dropout masks
//! and initializations are reproducible and a checkpoint can store the state.

use datasets::rng::{SPLITMIX64_GAMMA, splitmix64_mix};
use serde::{Deserialize, Serialize};

/// The top 24 bits of `bits` as a uniform sample in `[0, 1)`.
fn unit(bits: u64) -> f32 {
    (bits >> 40) as f32 / (1u64 << 24) as f32
}

/// SplitMix64 (the stream of `datasets::rng`): fast, deterministic, state serializable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    /// The generator's entire state.
    pub state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        datasets::rng::splitmix64_next(&mut self.state)
    }

    /// A uniform sample in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        unit(self.next_u64())
    }

    /// The uniform sample that the `i`-th next call of [`Rng::uniform`] (from 0)
    /// would return, without advancing: each draw adds a constant to the state, so
    /// draws can be computed independently (and in parallel).
    pub fn uniform_at(&self, i: u64) -> f32 {
        let z = self
            .state
            .wrapping_add((i.wrapping_add(1)).wrapping_mul(SPLITMIX64_GAMMA));
        unit(splitmix64_mix(z))
    }

    /// Skips `n` draws: the state `n` calls of [`Rng::next_u64`] would leave.
    pub fn advance(&mut self, n: u64) {
        self.state = self.state.wrapping_add(n.wrapping_mul(SPLITMIX64_GAMMA));
    }

    /// `n` samples uniform in `[lo, hi)`.
    pub fn uniform_vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| lo + (hi - lo) * self.uniform()).collect()
    }

    /// `n` standard normal samples (Box-Muller).
    pub fn normal_vec(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let u1 = self.uniform().max(1e-7);
                let u2 = self.uniform();
                std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
            })
            .collect()
    }
}
