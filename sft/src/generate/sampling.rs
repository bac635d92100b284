//! Choosing the next token from logits: greedy (temperature 0), or temperature
//! scaling plus nucleus (top-p) filtering with a seeded generator, so the same seed
//! gives the same text.

use crate::error::{Result, SftError};
use crate::rng::Rng;

/// How to pick tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// Softmax temperature; 0 means greedy. Default 0.
    pub temperature: f32,
    /// Nucleus mass in `(0, 1]`: sample among the most likely tokens whose
    /// probabilities sum to at least this. Default 1 (no filtering).
    pub top_p: f32,
    /// Seed of the sampling generator. Default 0.
    pub seed: u64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl SamplingConfig {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self::default()
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(SftError::InvalidArgument(format!(
                "temperature {} must be a finite number >= 0",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(SftError::InvalidArgument(format!(
                "top_p {} must be in (0, 1]",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// A token chooser with its own generator state.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplingConfig,
    rng: Rng,
}

impl Sampler {
    /// A sampler seeded from `config.seed`.
    pub fn new(config: SamplingConfig) -> Result<Self> {
        config.validate()?;
        let rng = Rng::new(config.seed);
        Ok(Sampler { config, rng })
    }

    /// The next token for `logits` (one row, `vocab` values).
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(SftError::InvalidArgument("empty logits".into()));
        }
        if self.config.temperature == 0.0 {
            return Ok(argmax(logits));
        }
        let t = self.config.temperature;
        let max = logits
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return Err(SftError::InvalidArgument(
                "every logit is infinite or NaN".into(),
            ));
        }
        // Softmax in f64 over finite logits; the nucleus is taken in order of
        // probability (ties by id).
        let mut probs: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .filter(|(_, x)| x.is_finite())
            .map(|(i, &x)| (i as u32, f64::from((x - max) / t).exp()))
            .collect();
        let total: f64 = probs.iter().map(|p| p.1).sum();
        // Keep the smallest prefix whose mass reaches top_p (at least one token).
        let want = f64::from(self.config.top_p) * total;
        let (n, kept) = nucleus(&mut probs, want);
        let u = f64::from(self.rng.uniform()) * kept;
        let mut acc = 0.0;
        for p in &probs[..n] {
            acc += p.1;
            if u < acc {
                return Ok(p.0);
            }
        }
        Ok(probs[n - 1].0)
    }
}

/// Candidates ordered first when looking for the nucleus; grows 4x while their mass
/// falls short of top_p.
const NUCLEUS_FIRST: usize = 64;

/// Orders the front of `probs` by probability (ties by id) until the smallest prefix
/// whose mass reaches `want` is found; returns its length and mass (all of `probs`
/// if none does). The same prefix, in the same order, as sorting everything, but a
/// partial selection of the top candidates instead of sorting a whole vocabulary
/// (5.4 ms per token for Qwen2.5's 151,936 ids, about a tenth of a decode step).
fn nucleus(probs: &mut [(u32, f64)], want: f64) -> (usize, f64) {
    let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let mut k = NUCLEUS_FIRST.min(probs.len());
    loop {
        if k < probs.len() {
            probs.select_nth_unstable_by(k - 1, order);
        }
        probs[..k].sort_by(order);
        let mut kept = 0.0;
        for (i, p) in probs[..k].iter().enumerate() {
            kept += p.1;
            if kept >= want {
                return (i + 1, kept);
            }
        }
        if k == probs.len() {
            return (k, kept);
        }
        k = (k * 4).min(probs.len());
    }
}

/// The id of the largest logit (the first on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod nucleus_tests;
