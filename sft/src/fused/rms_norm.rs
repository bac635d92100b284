//! RMSNorm `y = w ⊙ x / sqrt(mean(x²) + eps)` over the last dimension as one op over
//! `(x, w)`, computed by plain loops. With `r = 1 / sqrt(mean(x²) + eps)` and
//! `n = x·r`, backward is `gx = r·(g⊙w − n·mean(g⊙w⊙n))` and `gw = Σ_rows g⊙n`
//! (the latter only when `w` trains).

use super::{cpu_slice, par_rows, with_f32};
use crate::error::Result;
use crate::fused::zeroed;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// The custom op; `x (..., h)`, `w (h,)`.
struct RmsNorm {
    eps: f64,
}

/// `1 / sqrt(mean(x²) + eps)` of one row.
fn inv_rms(x: &[f32], eps: f64) -> f32 {
    let ms = x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len().max(1) as f64;
    (1.0 / ((ms as f32) as f64 + eps).sqrt()) as f32
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (cpu_slice(s1, l1)?, cpu_slice(s2, l2)?);
        let h = w.len();
        let rows = x.len() / h.max(1);
        let mut out = zeroed(x.len());
        par_rows(rows, h, &mut out, |first, chunk| {
            for (i, o) in chunk.chunks_mut(h).enumerate() {
                let xr = &x[(first + i) * h..(first + i + 1) * h];
                let r = inv_rms(xr, self.eps);
                for ((oj, &xj), &wj) in o.iter_mut().zip(xr).zip(w) {
                    *oj = xj * r * wj;
                }
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let h = w.elem_count();
        let rows = x.elem_count() / h.max(1);
        let mut gx = zeroed(x.elem_count());
        let mut gw_rows = zeroed(if w.track_op() { x.elem_count() } else { 0 });
        with_f32(x, |x| {
            with_f32(w, |w| {
                with_f32(grad, |g| {
                    par_rows(rows, h, &mut gx, |first, chunk| {
                        for (i, o) in chunk.chunks_mut(h).enumerate() {
                            let span = (first + i) * h..(first + i + 1) * h;
                            let (xr, gr) = (&x[span.clone()], &g[span]);
                            let r = inv_rms(xr, self.eps);
                            let dot: f64 = (0..h)
                                .map(|j| (gr[j] * w[j]) as f64 * (xr[j] * r) as f64)
                                .sum::<f64>()
                                / h as f64;
                            let dot = dot as f32;
                            for j in 0..h {
                                o[j] = r * (gr[j] * w[j] - xr[j] * r * dot);
                            }
                        }
                    });
                    if !gw_rows.is_empty() {
                        par_rows(rows, h, &mut gw_rows, |first, chunk| {
                            for (i, o) in chunk.chunks_mut(h).enumerate() {
                                let span = (first + i) * h..(first + i + 1) * h;
                                let (xr, gr) = (&x[span.clone()], &g[span]);
                                let r = inv_rms(xr, self.eps);
                                for j in 0..h {
                                    o[j] = gr[j] * xr[j] * r;
                                }
                            }
                        });
                    }
                })
            })
        })???;
        let gx = Tensor::from_vec(gx, x.shape(), x.device())?;
        let gw = if gw_rows.is_empty() {
            None
        } else {
            Some(Tensor::from_vec(column_sums(&gw_rows, h), h, x.device())?)
        };
        Ok((Some(gx), gw))
    }
}

/// RMSNorm of f32 CPU `x (..., h)` with weight `w (h,)`.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    Ok(x.contiguous()?
        .apply_op2(&w.contiguous()?, RmsNorm { eps })?)
}

/// The column sums of a row-major `(rows, h)` matrix: partial sums over fixed row
/// chunks on all cores, then added in chunk order (candle's `sum(0)` is one strided,
/// single-threaded pass).
fn column_sums(data: &[f32], h: usize) -> Vec<f32> {
    let rows = data.len() / h.max(1);
    let per = super::rows_per_task(rows);
    let partial: Vec<Vec<f32>> = data
        .par_chunks(per * h.max(1))
        .map(|chunk| {
            let mut acc = zeroed(h);
            for row in chunk.chunks(h) {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        })
        .collect();
    let mut out = zeroed(h);
    for p in &partial {
        for (o, &v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fused::testing::{assert_close, probe_backward, randn};
    use crate::ops::rms_norm_composed;
    use candle_core::{Device, Var};

    #[test]
    fn matches_composed_rms_norm_values_and_both_gradients() {
        let x = Var::from_tensor(&randn(0.0, 1.5, (3, 4, 16))).unwrap();
        let w = Var::from_tensor(&randn(1.0, 0.3, 16)).unwrap();
        let probe = randn(0.0, 1.0, (3, 4, 16));
        let (xt, wt) = (x.as_tensor(), w.as_tensor());
        let fused = rms_norm(xt, wt, 1e-5).unwrap();
        let plain = rms_norm_composed(xt, wt, 1e-5).unwrap();
        assert_close(&fused, &plain, 1e-5, "value");
        let gf = probe_backward(&fused, &probe);
        let gp = probe_backward(&plain, &probe);
        assert_close(gf.get(xt).unwrap(), gp.get(xt).unwrap(), 1e-5, "x");
        assert_close(gf.get(wt).unwrap(), gp.get(wt).unwrap(), 1e-5, "w");
    }

    #[test]
    fn a_frozen_weight_gets_no_gradient() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&randn(0.0, 1.0, (2, 8))).unwrap();
        let w = Tensor::ones(8, candle_core::DType::F32, &dev).unwrap();
        let g = rms_norm(x.as_tensor(), &w, 1e-6)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(&w).is_none());
        assert!(g.get(x.as_tensor()).is_some());
    }
}
