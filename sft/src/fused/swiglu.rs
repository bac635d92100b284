//! The gated MLP's `silu(g) ⊙ u` as one op over `(g, u)`, by plain loops on all cores. With
//! `σ = sigmoid(g)`: `d/dg = u·σ·(1 + g·(1 − σ))`, `d/du = g·σ`.

use super::{cpu_slice, par_rows, par_rows2, with_f32};
use crate::error::Result;
use crate::fused::zeroed;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// The custom op; `g` and `u` of the same shape.
struct SiluMul;

/// `1 / (1 + e^{-x})`.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + super::exp::exp(-x))
}

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "fused-silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, u) = (cpu_slice(s1, l1)?, cpu_slice(s2, l2)?);
        if l1.shape() != l2.shape() {
            return Err(candle_core::Error::ShapeMismatchBinaryOp {
                lhs: l1.shape().clone(),
                rhs: l2.shape().clone(),
                op: "fused-silu-mul",
            });
        }
        let mut out = zeroed(g.len());
        par_rows(g.len(), 1, &mut out, |first, chunk| {
            let (g, u) = (
                &g[first..first + chunk.len()],
                &u[first..first + chunk.len()],
            );
            for ((o, &a), &b) in chunk.iter_mut().zip(g).zip(u) {
                *o = a * sigmoid(a) * b;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        g: &Tensor,
        u: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let n = g.elem_count();
        let mut gg = zeroed(n);
        let mut gu = zeroed(n);
        with_f32(g, |g| {
            with_f32(u, |u| {
                with_f32(grad, |d| {
                    par_rows2(n, 1, &mut gg, &mut gu, |first, gg, gu| {
                        for (j, (gg, gu)) in gg.iter_mut().zip(gu).enumerate() {
                            let i = first + j;
                            let s = sigmoid(g[i]);
                            *gg = d[i] * u[i] * s * (1.0 + g[i] * (1.0 - s));
                            *gu = d[i] * g[i] * s;
                        }
                    })
                })
            })
        })???;
        Ok((
            Some(Tensor::from_vec(gg, g.shape(), g.device())?),
            Some(Tensor::from_vec(gu, u.shape(), u.device())?),
        ))
    }
}

/// `silu(g) ⊙ u` for f32 CPU tensors of the same shape.
pub fn silu_mul(g: &Tensor, u: &Tensor) -> Result<Tensor> {
    Ok(g.contiguous()?.apply_op2(&u.contiguous()?, SiluMul)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fused::testing::{assert_close, probe_backward, randn};
    use candle_core::Var;

    #[test]
    fn matches_composed_silu_times_up() {
        let g = Var::from_tensor(&randn(0.0, 3.0, (4, 9))).unwrap();
        let u = Var::from_tensor(&randn(0.0, 1.0, (4, 9))).unwrap();
        let probe = randn(0.0, 1.0, (4, 9));
        let (gt, ut) = (g.as_tensor(), u.as_tensor());
        let fused = silu_mul(gt, ut).unwrap();
        let plain = (gt.silu().unwrap() * ut).unwrap();
        assert_close(&fused, &plain, 1e-5, "value");
        let gf = probe_backward(&fused, &probe);
        let gp = probe_backward(&plain, &probe);
        assert_close(gf.get(gt).unwrap(), gp.get(gt).unwrap(), 1e-5, "g");
        assert_close(gf.get(ut).unwrap(), gp.get(ut).unwrap(), 1e-5, "u");
    }
}
