//! Differentiable compositions of the ops whose fused candle kernels have no backward
//! pass: RMSNorm and softmax (RMSNorm dispatches to a fused op on the CPU).

use crate::error::Result;
use candle_core::{D, Tensor};

/// RMSNorm as Hugging Face's `LlamaRMSNorm`: `w * x / sqrt(mean(x^2) + eps)` over the
/// last dimension, computed in f32. f32 CPU tensors go through the fused op
/// [`crate::fused::rms_norm`] (one output kept for backward instead of five).
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    if crate::fused::fusable(&[x, weight]) {
        return crate::fused::rms_norm::rms_norm(x, weight, eps);
    }
    rms_norm_composed(x, weight, eps)
}

/// [`rms_norm`] from differentiable ops: the path off the CPU and the fused op's
/// test reference.
pub(crate) fn rms_norm_composed(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(candle_core::DType::F32)?;
    // (..., 1)
    let var = x.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = x.broadcast_div(&(var + eps)?.sqrt()?)?.to_dtype(dtype)?;
    Ok(normed.broadcast_mul(weight)?)
}

/// Softmax over the last dimension. The max is subtracted for stability and treated
/// as a constant (softmax is invariant to it, so the gradient is unchanged).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&sum)?)
}

/// Log-softmax over the last dimension, from the same basic ops.
pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}
