//! Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_`.

use crate::error::Result;
use crate::fused;
use crate::fused::zeroed;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use rayon::prelude::*;

/// The global L2 norm of the gradients of `params` (missing gradients count as zero).
pub fn grad_norm(grads: &GradStore, params: &[(String, Var)]) -> Result<f64> {
    let mut total = 0f64;
    for (_, v) in params {
        if let Some(g) = grads.get(v.as_tensor()) {
            total += if fused::fusable(&[g]) {
                sum_of_squares(g)?
            } else {
                let n = g.to_dtype(DType::F32)?.sqr()?.sum_all()?;
                f64::from(n.to_scalar::<f32>()?)
            };
        }
    }
    Ok(total.sqrt())
}

/// Elements summed per task by [`sum_of_squares`]; fixed, so the sum's rounding does not
/// depend on the thread count or on scheduling.
const SUM_CHUNK: usize = 1 << 16;

/// `Σ x²` of an f32 CPU tensor in f64, in fixed chunks on all cores, without a
/// temporary tensor.
fn sum_of_squares(g: &Tensor) -> Result<f64> {
    let partial: Vec<f64> = fused::with_f32(g, |s| {
        s.par_chunks(SUM_CHUNK)
            .map(|c| c.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>())
            .collect()
    })?;
    Ok(partial.iter().sum())
}

/// `g·coef` for an f32 CPU tensor on all cores, with the bits of candle's `g * coef`
/// (its `affine`: `x·mul + 0` in f32).
fn scaled_copy(g: &Tensor, coef: f64) -> Result<Tensor> {
    let mul = coef as f32;
    let mut out = zeroed(g.elem_count());
    fused::with_f32(g, |x| {
        fused::par_rows(x.len(), 1, &mut out, |first, chunk| {
            for (o, &xi) in chunk.iter_mut().zip(&x[first..]) {
                *o = xi * mul + 0.0;
            }
        })
    })?;
    Ok(Tensor::from_vec(out, g.shape(), g.device())?)
}

/// Scales the gradients so their global norm is at most `max_norm`, using torch's
/// factor `max_norm / (norm + 1e-6)` capped at 1. Returns the norm before clipping.
pub fn clip_grad_norm(
    grads: &mut GradStore,
    params: &[(String, Var)],
    max_norm: f64,
) -> Result<f64> {
    let norm = grad_norm(grads, params)?;
    let coef = (max_norm / (norm + 1e-6)).min(1.0);
    if coef < 1.0 {
        for (_, v) in params {
            if let Some(g) = grads.remove(v.as_tensor()) {
                let scaled = if fused::fusable(&[&g]) {
                    scaled_copy(&g, coef)?
                } else {
                    (g * coef)?
                };
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}
