//! The attention core `softmax(q·kᵀ·scale + bias)·v` as one op over `(q, k, v)`
//! with the additive bias captured. The probabilities `P` are not kept: backward
//! recomputes them and applies `dV = Pᵀ·dO`, `dP = dO·Vᵀ`,
//! `dS = P⊙(dP − rowsum(dP⊙P))`, `dQ = dS·K·scale`, `dK = dSᵀ·Q·scale`. The per-head
//! products run one single-threaded gemm per head on all cores
//! (`batched_matmul`); transposed operands are read through strides.

use super::batched_matmul::matmul;
use super::{Precomputed, exp, par_rows, with_f32};
use crate::error::Result;
use crate::fused::zeroed;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

/// The custom op; `q`, `k`, `v` `(batch, heads, seq, head_dim)`.
struct AttentionCore {
    bias: Tensor,
    scale: f64,
    out: Precomputed,
}

/// `softmax(q·kᵀ·scale + bias)` on detached operands, `(batch, heads, seq, seq)`.
/// Scaling, bias and softmax are one pass over the score rows on all cores when the
/// bias is `(batch or 1, heads or 1, seq, seq)`; other biases take the composed ops.
fn probs(q: &Tensor, k: &Tensor, bias: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    let scores = matmul(q, false, k, true)?;
    let d = bias.dims();
    let s = scores.dims();
    let fits = |i: usize| d[i] == 1 || d[i] == s[i];
    if d.len() == 4 && s.len() == 4 && fits(0) && fits(1) && d[2] == s[2] && d[3] == s[3] {
        // the bias is borrowed (no copy when contiguous, as the mask's bias is)
        with_f32(bias, |data| {
            let rows = BiasRows {
                data,
                batch: d[0],
                heads: d[1],
            };
            softmax_rows(&scores, &rows, scale as f32)
        })?
    } else {
        candle_nn::ops::softmax_last_dim(&(scores * scale)?.broadcast_add(bias)?)
    }
}

/// The rows of a `(batch or 1, heads or 1, q, k)` bias, looked up per score row.
struct BiasRows<'a> {
    data: &'a [f32],
    batch: usize,
    heads: usize,
}

impl BiasRows<'_> {
    /// The bias row for score row `r` of `(batch, heads, q)` rows with `heads`, `q` given.
    fn row(&self, r: usize, heads: usize, q: usize, k: usize) -> &[f32] {
        let (b, h, i) = (r / (heads * q), (r / q) % heads, r % q);
        let b = if self.batch == 1 { 0 } else { b };
        let h = if self.heads == 1 { 0 } else { h };
        let start = ((b * self.heads + h) * q + i) * k;
        &self.data[start..start + k]
    }
}

/// Below this, `exp(x − max)` is 0 in f32: masked entries skip the exponential.
const EXP_UNDERFLOW: f32 = -110.0;

/// `softmax(s·scale + bias)` row by row (the order of candle's softmax: max, exponentials
/// of the differences, sum, division).
fn softmax_rows(scores: &Tensor, bias: &BiasRows<'_>, scale: f32) -> candle_core::Result<Tensor> {
    let dims = scores.dims().to_vec();
    let (heads, q, k) = (dims[1], dims[2], dims[3]);
    let rows = scores.elem_count() / k.max(1);
    let mut out = zeroed(scores.elem_count());
    with_f32(scores, |s| {
        par_rows(rows, k, &mut out, |first, chunk| {
            for (j, dst) in chunk.chunks_mut(k).enumerate() {
                let r = first + j;
                let (src, b) = (&s[r * k..(r + 1) * k], bias.row(r, heads, q, k));
                for ((d, &x), &bb) in dst.iter_mut().zip(src).zip(b) {
                    *d = x * scale + bb;
                }
                let max = exp::max(dst);
                for d in dst.iter_mut() {
                    let z = *d - max;
                    *d = if z < EXP_UNDERFLOW { 0.0 } else { exp::exp(z) };
                }
                let sum = exp::sum(dst);
                for d in dst.iter_mut() {
                    *d /= sum;
                }
            }
        })
    })?;
    Tensor::from_vec(out, dims, scores.device())
}

/// `dS = P⊙(dP − rowsum(dP⊙P))·scale`, row by row on all cores.
fn softmax_backward(p: &Tensor, dp: &Tensor, scale: f32) -> candle_core::Result<Tensor> {
    let dims = p.dims().to_vec();
    let k = dims.last().copied().unwrap_or(1).max(1);
    let rows = p.elem_count() / k;
    let mut out = zeroed(p.elem_count());
    with_f32(p, |p| {
        with_f32(dp, |dp| {
            par_rows(rows, k, &mut out, |first, chunk| {
                for (j, dst) in chunk.chunks_mut(k).enumerate() {
                    let r = first + j;
                    let (pr, dr) = (&p[r * k..(r + 1) * k], &dp[r * k..(r + 1) * k]);
                    let dot: f32 = pr.iter().zip(dr).map(|(a, b)| a * b).sum();
                    for ((d, &a), &b) in dst.iter_mut().zip(pr).zip(dr) {
                        *d = a * (b - dot) * scale;
                    }
                }
            })
        })
    })??;
    Tensor::from_vec(out, dims, p.device())
}

impl CustomOp3 for AttentionCore {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.out.take()
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (q, k, v, g) = (q.detach(), k.detach(), v.detach(), grad.detach());
        let p = probs(&q, &k, &self.bias, self.scale)?;
        let dv = matmul(&p, true, &g, false)?;
        let dp = matmul(&g, false, &v, true)?;
        let ds = softmax_backward(&p, &dp, self.scale as f32)?;
        let dq = matmul(&ds, false, &k, false)?;
        let dk = matmul(&ds, true, &q, false)?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// `softmax(q·kᵀ·scale + bias)·v` for `q`, `k`, `v` `(batch, heads, seq, head_dim)`
/// (kv heads already repeated) and `bias` broadcastable to `(batch, heads, seq, seq)`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor, scale: f64) -> Result<Tensor> {
    let (qd, kd, vd) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let bias = bias.detach();
    let p = probs(&qd.detach(), &kd.detach(), &bias, scale)?;
    let out = matmul(&p, false, &vd.detach(), false)?;
    let op = AttentionCore {
        bias,
        scale,
        out: Precomputed::new(out),
    };
    Ok(qd.apply_op3(&kd, &vd, op)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fused::testing::{assert_close, probe_backward, randn};
    use crate::mask::attention_bias;
    use crate::ops::softmax_last_dim;
    use candle_core::{Device, Var};

    /// The composed reference: what `attention.rs` computed before fusing.
    fn composed(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor, scale: f64) -> Tensor {
        let s = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
        softmax_last_dim(&s.broadcast_add(bias).unwrap())
            .unwrap()
            .matmul(v)
            .unwrap()
    }

    #[test]
    fn matches_composed_attention_with_padding_and_packing() {
        let dev = Device::Cpu;
        let (b, h, s, d) = (2, 3, 6, 4);
        // row 0: packed, a second sample starts at t = 3; row 1: two padding tokens
        let pos = Tensor::new(&[[0u32, 1, 2, 0, 1, 2], [0, 1, 2, 3, 4, 5]], &dev).unwrap();
        let am = Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], &dev).unwrap();
        let bias = attention_bias(Some(&am), &pos, &dev).unwrap();
        let q = Var::from_tensor(&randn(0.0, 1.0, (b, h, s, d))).unwrap();
        let k = Var::from_tensor(&randn(0.0, 1.0, (b, h, s, d))).unwrap();
        let v = Var::from_tensor(&randn(0.0, 1.0, (b, h, s, d))).unwrap();
        let probe = randn(0.0, 1.0, (b, h, s, d));
        let scale = 0.5;
        let (qt, kt, vt) = (q.as_tensor(), k.as_tensor(), v.as_tensor());
        let fused = attention(qt, kt, vt, &bias, scale).unwrap();
        let plain = composed(qt, kt, vt, &bias, scale);
        assert_close(&fused, &plain, 1e-5, "value");
        let gf = probe_backward(&fused, &probe);
        let gp = probe_backward(&plain, &probe);
        for (t, what) in [(qt, "q"), (kt, "k"), (vt, "v")] {
            assert_close(gf.get(t).unwrap(), gp.get(t).unwrap(), 1e-5, what);
        }
    }

    /// A per-head bias `(1, heads, seq, seq)` takes the one-pass softmax; a `(seq, seq)`
    /// bias the composed ops. Both must match the composed reference.
    #[test]
    fn per_head_and_unbatched_biases_match_composed_attention() {
        let (b, h, s, d) = (2, 3, 5, 4);
        for bias in [randn(0.0, 2.0, (1, h, s, s)), randn(0.0, 2.0, (s, s))] {
            let q = Var::from_tensor(&randn(0.0, 1.0, (b, h, s, d))).unwrap();
            let k = Var::from_tensor(&randn(0.0, 1.0, (b, h, s, d))).unwrap();
            let v = Var::from_tensor(&randn(0.0, 1.0, (b, h, s, d))).unwrap();
            let probe = randn(0.0, 1.0, (b, h, s, d));
            let (qt, kt, vt) = (q.as_tensor(), k.as_tensor(), v.as_tensor());
            let fused = attention(qt, kt, vt, &bias, 0.7).unwrap();
            let plain = composed(qt, kt, vt, &bias, 0.7);
            assert_close(&fused, &plain, 1e-5, "value");
            let gf = probe_backward(&fused, &probe);
            let gp = probe_backward(&plain, &probe);
            for (t, what) in [(qt, "q"), (kt, "k"), (vt, "v")] {
                assert_close(gf.get(t).unwrap(), gp.get(t).unwrap(), 1e-5, what);
            }
        }
    }
}
