//! Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_`.

use crate::error::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Var};

/// The global L2 norm of the gradients of `params` (missing gradients count as zero).
pub fn grad_norm(grads: &GradStore, params: &[(String, Var)]) -> Result<f64> {
    let mut total = 0f64;
    for (_, v) in params {
        if let Some(g) = grads.get(v.as_tensor()) {
            let n = g
                .to_dtype(DType::F32)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f32>()?;
            total += f64::from(n);
        }
    }
    Ok(total.sqrt())
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
                grads.insert(v.as_tensor(), (g * coef)?);
            }
        }
    }
    Ok(norm)
}
