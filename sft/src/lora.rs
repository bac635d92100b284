//! LoRA settings and the low-rank adapter attached to a projection:
//! `y = W x + b + scale * B A dropout(x)`, with `scale = alpha / r` applied to the
//! low-rank delta only.

use crate::error::{Result, SftError};
use crate::rng::Rng;
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

/// A projection LoRA can adapt, named as in the checkpoint and in PEFT's
/// `target_modules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    /// `self_attn.q_proj`.
    QProj,
    /// `self_attn.k_proj`.
    KProj,
    /// `self_attn.v_proj`.
    VProj,
    /// `self_attn.o_proj`.
    OProj,
    /// `mlp.gate_proj`.
    GateProj,
    /// `mlp.up_proj`.
    UpProj,
    /// `mlp.down_proj`.
    DownProj,
}

impl LoraTarget {
    /// All seven projections.
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::QProj,
        LoraTarget::KProj,
        LoraTarget::VProj,
        LoraTarget::OProj,
        LoraTarget::GateProj,
        LoraTarget::UpProj,
        LoraTarget::DownProj,
    ];

    /// The module's name (`"q_proj"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LoraTarget::QProj => "q_proj",
            LoraTarget::KProj => "k_proj",
            LoraTarget::VProj => "v_proj",
            LoraTarget::OProj => "o_proj",
            LoraTarget::GateProj => "gate_proj",
            LoraTarget::UpProj => "up_proj",
            LoraTarget::DownProj => "down_proj",
        }
    }
}

/// LoRA hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank `r`. Default 16.
    pub rank: usize,
    /// `lora_alpha`; the delta is scaled by `alpha / rank`. Default 32.
    pub alpha: f64,
    /// Dropout probability on the adapter's input during training. Default 0.05.
    pub dropout: f32,
    /// Which projections get an adapter. Default all seven.
    pub targets: Vec<LoraTarget>,
    /// Seed for the `A` initialization. Default 0.
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 16,
            alpha: 32.0,
            dropout: 0.05,
            targets: LoraTarget::ALL.to_vec(),
            seed: 0,
        }
    }
}

impl LoraConfig {
    /// The factor applied to the low-rank delta.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(SftError::InvalidArgument(
                "LoRA rank must be positive".into(),
            ));
        }
        if !self.alpha.is_finite() {
            return Err(SftError::InvalidArgument(
                "LoRA alpha must be finite".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(SftError::InvalidArgument(format!(
                "LoRA dropout {} must be in [0, 1)",
                self.dropout
            )));
        }
        Ok(())
    }
}

/// The trainable pair of one adapted projection.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    /// `lora_A`: `(rank, in)`, initialized like PEFT (Kaiming-uniform, bound `1/sqrt(in)`).
    pub a: Var,
    /// `lora_B`: `(out, rank)`, initialized to zero so training starts at the base model.
    pub b: Var,
    /// `alpha / rank`.
    pub scale: f64,
    /// Dropout probability on the input.
    pub dropout: f32,
}

impl LoraAdapter {
    /// A fresh adapter for a `(out, in)` projection.
    pub fn new(
        out_dim: usize,
        in_dim: usize,
        cfg: &LoraConfig,
        rng: &mut Rng,
        device: &Device,
    ) -> Result<Self> {
        let bound = 1.0 / (in_dim as f32).sqrt();
        let a = rng.uniform_vec(cfg.rank * in_dim, -bound, bound);
        let a = Var::from_tensor(&Tensor::from_vec(a, (cfg.rank, in_dim), device)?)?;
        let b = Var::zeros((out_dim, cfg.rank), candle_core::DType::F32, device)?;
        Ok(LoraAdapter {
            a,
            b,
            scale: cfg.scale(),
            dropout: cfg.dropout,
        })
    }

    /// `scale * B A`, `(out, in)`: what merging adds to the base weight.
    pub fn delta(&self) -> Result<Tensor> {
        Ok((self.b.as_tensor().matmul(self.a.as_tensor())? * self.scale)?)
    }
}
