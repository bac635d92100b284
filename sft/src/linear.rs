//! A projection `y = x W^T + b`, optionally with a LoRA adapter, and the forward
//! context that carries the dropout generator.

use crate::error::Result;
use crate::fused::zeroed;
use crate::lora::LoraAdapter;
use crate::rng::Rng;
use candle_core::{DType, Tensor};

/// Per-forward state: `Some(rng)` means training (dropout on), `None` evaluation.
#[derive(Debug, Clone, Default)]
pub struct ForwardCtx {
    /// The dropout generator; `None` disables dropout.
    pub rng: Option<Rng>,
}

impl ForwardCtx {
    /// Evaluation: no dropout.
    pub fn eval() -> Self {
        ForwardCtx { rng: None }
    }

    /// Training with dropout drawn from `rng`.
    pub fn train(rng: Rng) -> Self {
        ForwardCtx { rng: Some(rng) }
    }
}

/// Inverted dropout with probability `p`, masks drawn from `ctx`'s generator (on the
/// CPU) or the device's own (elsewhere).
pub fn dropout(x: &Tensor, p: f32, ctx: &mut ForwardCtx) -> Result<Tensor> {
    let Some(rng) = ctx.rng.as_mut() else {
        return Ok(x.clone());
    };
    if p <= 0.0 {
        return Ok(x.clone());
    }
    if !x.device().is_cpu() {
        // Drawn where the tensor lives, by the device's own generator (candle seeds it
        // once per process, not from the run's seed): drawing on the host and copying
        // cost more than the step.
        rng.advance(x.elem_count() as u64);
        let keep = (Tensor::rand(0f32, 1f32, x.shape(), x.device())?.ge(p)?).to_dtype(x.dtype())?;
        return Ok((x * (keep * (1.0 / (1.0 - f64::from(p))))?)?);
    }
    let mask = dropout_mask(rng, x.elem_count(), p);
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok((x * mask)?)
}

/// `n` inverted-dropout multipliers (`0` or `1 / (1 - p)`), one draw of `rng` each
/// (element `i` is draw `i`): the mask [`dropout`] applies, also redrawn by the fused
/// LoRA op's backward. Draws are computed by index, on all cores.
pub(crate) fn dropout_mask(rng: &mut Rng, n: usize, p: f32) -> Vec<f32> {
    let keep = 1.0 / (1.0 - p);
    let start = rng.clone();
    rng.advance(n as u64);
    let mut mask = zeroed(n);
    crate::fused::par_rows(n, 1, &mut mask, |first, chunk| {
        for (i, m) in chunk.iter_mut().enumerate() {
            if start.uniform_at((first + i) as u64) >= p {
                *m = keep;
            }
        }
    });
    mask
}

/// A linear layer with the checkpoint's `(out, in)` weight.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `(out, in)`; a variable when fully fine-tuned, a constant otherwise.
    pub weight: Tensor,
    /// `(out,)` if present.
    pub bias: Option<Tensor>,
    /// The LoRA adapter, if this projection is adapted.
    pub lora: Option<LoraAdapter>,
}

impl Linear {
    /// `(..., in)` -> `(..., out)`. A LoRA projection over a frozen f32 CPU weight
    /// runs as one fused op ([`crate::fused::lora`]); everything else is composed.
    pub fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx) -> Result<Tensor> {
        let Some(l) = &self.lora else {
            return self.forward_composed(x, ctx);
        };
        let mut ts = vec![x, &self.weight];
        ts.extend(self.bias.as_ref());
        if self.weight.is_variable() || !crate::fused::fusable(&ts) {
            return self.forward_composed(x, ctx);
        }
        let dims = x.dims().to_vec();
        let in_dim = dims.last().copied().unwrap_or(1);
        let rows = x.elem_count() / in_dim.max(1);
        let p = if ctx.rng.is_some() { l.dropout } else { 0.0 };
        let y = crate::fused::lora::lora_linear(
            &x.reshape((rows, in_dim))?,
            &self.weight,
            self.bias.as_ref(),
            l.a.as_tensor(),
            l.b.as_tensor(),
            l.scale,
            p,
            ctx.rng.as_mut(),
        )?;
        let mut out_dims = dims;
        if let Some(last) = out_dims.last_mut() {
            *last = self.weight.dim(0)?;
        }
        Ok(y.reshape(out_dims)?)
    }

    /// The same projection from candle's differentiable ops (every intermediate stays
    /// in the graph): the path for full fine-tuning, other devices and dtypes, and the
    /// reference the fused op is tested against.
    pub(crate) fn forward_composed(&self, x: &Tensor, ctx: &mut ForwardCtx) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = dims.last().copied().unwrap_or(1);
        let rows = x.elem_count() / in_dim.max(1);
        // (rows, in)
        let x2 = x.reshape((rows, in_dim))?;
        // (rows, out)
        let mut y = crate::frozen_matmul::matmul_wt(&x2, &self.weight)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        if let Some(l) = &self.lora {
            let xd = dropout(&x2, l.dropout, ctx)?;
            // (rows, rank) -> (rows, out)
            let low = xd.matmul(&l.a.as_tensor().t()?)?;
            let delta = low.matmul(&l.b.as_tensor().t()?)?;
            y = (y + (delta * l.scale)?)?;
        }
        let mut out_dims = dims;
        if let Some(last) = out_dims.last_mut() {
            *last = self.weight.dim(0)?;
        }
        Ok(y.reshape(out_dims)?)
    }

    /// Folds the adapter into the weight and drops it.
    pub fn merge(&mut self) -> Result<()> {
        if let Some(l) = self.lora.take() {
            let w = self.weight.to_dtype(DType::F32)?;
            self.weight = (w + l.delta()?)?.to_dtype(self.weight.dtype())?.detach();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::dropout_mask;
    use crate::rng::Rng;

    /// The mask drawn by index on several threads is the mask of sequential draws of
    /// `Rng::uniform`, and the generator ends where those draws leave it.
    #[test]
    fn dropout_mask_equals_sequential_draws() {
        let (n, p) = (10_001, 0.3f32);
        let (mut by_index, mut sequential) = (Rng::new(42), Rng::new(42));
        let mask = dropout_mask(&mut by_index, n, p);
        let expected: Vec<f32> = (0..n)
            .map(|_| {
                if sequential.uniform() >= p {
                    1.0 / (1.0 - p)
                } else {
                    0.0
                }
            })
            .collect();
        assert_eq!(mask, expected);
        assert_eq!(by_index, sequential);
        let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / n as f64;
        assert!((dropped - 0.3).abs() < 0.02, "dropped fraction {dropped}");
    }
}
