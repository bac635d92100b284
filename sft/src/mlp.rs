//! The gated SiLU MLP of Llama-family decoders (`silu(g)·u` fused on the CPU:
//! [`crate::fused::swiglu`]).

use crate::error::Result;
use crate::linear::{ForwardCtx, Linear};
use candle_core::Tensor;

/// The gated SiLU MLP.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// `gate_proj`: `(intermediate, hidden)`.
    pub gate_proj: Linear,
    /// `up_proj`: `(intermediate, hidden)`.
    pub up_proj: Linear,
    /// `down_proj`: `(hidden, intermediate)`.
    pub down_proj: Linear,
}

impl Mlp {
    /// `down(silu(gate(x)) * up(x))`, `(batch, seq, hidden)` -> same.
    pub(crate) fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx) -> Result<Tensor> {
        let g = self.gate_proj.forward(x, ctx)?;
        let u = self.up_proj.forward(x, ctx)?;
        let h = if crate::fused::fusable(&[&g, &u]) {
            crate::fused::swiglu::silu_mul(&g, &u)?
        } else {
            (g.silu()? * u)?
        };
        self.down_proj.forward(&h, ctx)
    }
}
