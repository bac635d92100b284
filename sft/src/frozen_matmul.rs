//! `x · Wᵀ` for a frozen weight `W`, with a backward pass that computes only the
//! input's gradient, and for a trained one, with the weight's gradient computed in its
//! own layout.
//!
//! candle's `matmul` backward always computes the gradients of both operands. For a
//! frozen weight (LoRA training, the reference pass, a tied frozen LM head) the
//! weight's gradient is a wasted `(out, in)`-sized matmul per projection, and the
//! result sits in the gradient store until the step ends: about a third of a LoRA
//! step's arithmetic and one extra model's worth of memory. This op has the same
//! forward (the CPU backend's own matmul kernel) and returns no gradient for `W`.

use crate::error::Result;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// The custom op: forward `x (m, k) · wt (k, n)`, backward `grad · wtᵀ` for `x` only.
struct FrozenRhsMatmul;

impl CustomOp2 for FrozenRhsMatmul {
    fn name(&self) -> &'static str {
        "frozen-rhs-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = l1.shape().dims2()?;
        let (k2, n) = l2.shape().dims2()?;
        if k != k2 {
            return Err(candle_core::Error::ShapeMismatchBinaryOp {
                lhs: l1.shape().clone(),
                rhs: l2.shape().clone(),
                op: "frozen-rhs-matmul",
            });
        }
        let out = s1.matmul(s2, (1, m, n, k), l1, l2)?;
        Ok((out, Shape::from((m, n))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        wt: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(&wt.t()?)?), None))
    }
}

/// The same product for a *trained* weight: backward also returns the weight's
/// gradient, computed as `gradᵀ·x` in `w`'s own `(out, in)` layout (handed back as a
/// transposed view, which the transpose's backward turns into that layout again).
/// candle's `matmul` computes `xᵀ·grad` instead, whose transpose then has to be copied
/// into a contiguous gradient, single-threaded, for every projection.
struct TrainedRhsMatmul;

impl CustomOp2 for TrainedRhsMatmul {
    fn name(&self) -> &'static str {
        "trained-rhs-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        FrozenRhsMatmul.cpu_fwd(s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        x: &Tensor,
        wt: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let gx = grad.matmul(&wt.t()?)?;
        let gw = grad.t()?.matmul(x)?;
        Ok((Some(gx), Some(gw.t()?)))
    }
}

/// `x (rows, in) · wᵀ` with `w (out, in)` → `(rows, out)`. Off the CPU and for a
/// strided `x` this is candle's plain `matmul` (both gradients).
///
/// A trained LM head goes through [`TrainedRhsMatmul`] too. That was once slower (gemm
/// ran `gradᵀ·x` for a `(49152, 576)` head at 140 GFLOP/s against 177 for `xᵀ·grad`),
/// but with gemm's AVX-512 kernels it is not, and the plain matmul's gradient needs a
/// single-threaded transposing copy of the whole head: a full fine-tuning step of
/// SmolLM2-135M went from 5.94 to 5.64 s (median of nine steps each).
pub fn matmul_wt(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let wt = w.t()?;
    if !x.device().is_cpu() || !x.is_contiguous() {
        return Ok(x.matmul(&wt)?);
    }
    if w.is_variable() {
        return Ok(x.apply_op2(&wt, TrainedRhsMatmul)?);
    }
    Ok(x.apply_op2(&wt, FrozenRhsMatmul)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use candle_core::{Device, Var};

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn same_values_and_input_gradient_as_plain_matmul_and_no_weight_gradient() {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1.0, (5, 7), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (3, 7), &dev).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (5, 3), &dev).unwrap();

        let ours = matmul_wt(x.as_tensor(), &w).unwrap();
        let wt = w.t().unwrap();
        let plain = x.as_tensor().matmul(&wt).unwrap();
        // the same CPU kernel on the same operands: bit-identical
        assert_eq!(max_abs_diff(&ours, &plain), 0.0);

        let g_ours = (&ours * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g_plain = (&plain * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        // d/dx sum(probe ⊙ x·wᵀ) = probe · w
        let expected = probe.matmul(&w).unwrap();
        let gx = g_ours.get(x.as_tensor()).unwrap();
        assert!(max_abs_diff(gx, &expected) < 1e-5);
        assert!(max_abs_diff(gx, g_plain.get(x.as_tensor()).unwrap()) < 1e-5);
        // plain matmul also stored a gradient for wᵀ; ours stores none for it
        assert!(g_plain.get(&wt).is_some());
        assert!(g_ours.get(&wt).is_none());
    }

    #[test]
    fn a_trained_weight_still_gets_its_gradient() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (4, 6), &dev).unwrap();
        let w = Var::randn(0f32, 1.0, (2, 6), &dev).unwrap();
        let y = matmul_wt(&x, w.as_tensor()).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        // d/dw sum(x·wᵀ) = 1ᵀ·x, the column sums of x, for every row of w
        let colsum = x.sum_keepdim(0).unwrap().broadcast_as((2, 6)).unwrap();
        assert!(max_abs_diff(g.get(w.as_tensor()).unwrap(), &colsum) < 1e-5);
    }
}
