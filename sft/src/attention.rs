//! Grouped-query self-attention with RoPE and an additive mask, from differentiable
//! ops (the softmax is the composed one in [`crate::ops`]).

use crate::error::Result;
use crate::linear::{ForwardCtx, Linear};
use crate::ops::softmax_last_dim;
use crate::rope;
use candle_core::Tensor;

/// Self-attention with grouped-query heads.
#[derive(Debug, Clone)]
pub struct Attention {
    /// `q_proj`: `(heads * head_dim, hidden)`.
    pub q_proj: Linear,
    /// `k_proj`: `(kv_heads * head_dim, hidden)`.
    pub k_proj: Linear,
    /// `v_proj`: `(kv_heads * head_dim, hidden)`.
    pub v_proj: Linear,
    /// `o_proj`: `(hidden, heads * head_dim)`.
    pub o_proj: Linear,
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
}

impl Attention {
    /// `(batch, seq, hidden)` -> `(batch, seq, hidden)`.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        bias: &Tensor,
        ctx: &mut ForwardCtx,
    ) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        // (batch, heads, seq, head_dim)
        let q = self
            .q_proj
            .forward(x, ctx)?
            .reshape((b, s, nh, hd))?
            .transpose(1, 2)?;
        let k = self
            .k_proj
            .forward(x, ctx)?
            .reshape((b, s, nkv, hd))?
            .transpose(1, 2)?;
        let v = self
            .v_proj
            .forward(x, ctx)?
            .reshape((b, s, nkv, hd))?
            .transpose(1, 2)?;
        let q = rope::apply(&q.contiguous()?, cos, sin)?;
        let k = rope::apply(&k.contiguous()?, cos, sin)?;
        // GQA: kv head j serves query heads j * rep .. (j + 1) * rep
        let k = repeat_kv(&k, nh / nkv)?;
        let v = repeat_kv(&v.contiguous()?, nh / nkv)?;
        // (batch, heads, seq, seq)
        let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let probs = softmax_last_dim(&scores.broadcast_add(bias)?)?;
        // (batch, heads, seq, head_dim) -> (batch, seq, heads * head_dim)
        let out = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, s, nh * hd))?;
        self.o_proj.forward(&out, ctx)
    }
}

/// `(batch, kv_heads, seq, d)` -> `(batch, kv_heads * rep, seq, d)`, each kv head
/// repeated `rep` times in place (Hugging Face's `repeat_kv`).
fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    let (b, kv, s, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .broadcast_as((b, kv, rep, s, d))?
        .contiguous()?
        .reshape((b, kv * rep, s, d))?)
}
