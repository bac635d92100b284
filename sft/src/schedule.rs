//! Learning-rate schedules: linear warmup, then cosine or linear decay, matching
//! `transformers.get_cosine_schedule_with_warmup` / `get_linear_schedule_with_warmup`.

use serde::{Deserialize, Serialize};

/// The decay after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// Half a cosine down to 0 at `total_steps`.
    Cosine,
    /// Straight line down to 0 at `total_steps`.
    Linear,
    /// Stay at the peak.
    Constant,
}

/// Warmup + decay over a fixed number of optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Peak learning rate.
    pub peak_lr: f64,
    /// Warmup steps (the lr rises linearly from 0). Default 0.
    pub warmup_steps: u64,
    /// Total optimizer steps.
    pub total_steps: u64,
    /// The decay after warmup.
    pub decay: Decay,
}

impl Schedule {
    /// The learning rate for the optimizer step with 0-based index `step` (as
    /// PyTorch's `LambdaLR`: the first step uses `lambda(0)`, which is 0 with warmup).
    pub fn lr(&self, step: u64) -> f64 {
        self.peak_lr * self.factor(step)
    }

    fn factor(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return step as f64 / self.warmup_steps.max(1) as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = (step - self.warmup_steps) as f64 / span;
        match self.decay {
            Decay::Cosine => (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0),
            Decay::Linear => (1.0 - progress).max(0.0),
            Decay::Constant => 1.0,
        }
    }
}
