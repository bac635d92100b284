//! The attention core `softmax(q·kᵀ·scale + bias)·v` as one op over `(q, k, v)`
//! with the additive bias captured. The probabilities `P` are not kept: backward
//! recomputes them and applies `dV = Pᵀ·dO`, `dP = dO·Vᵀ`,
//! `dS = P⊙(dP − rowsum(dP⊙P))`, `dQ = dS·K·scale`, `dK = dSᵀ·Q·scale`.

use super::Precomputed;
use crate::error::Result;
use candle_core::{CpuStorage, CustomOp3, D, Layout, Shape, Tensor};

/// The custom op; `q`, `k`, `v` `(batch, heads, seq, head_dim)`.
struct AttentionCore {
    bias: Tensor,
    scale: f64,
    out: Precomputed,
}

/// `softmax(q·kᵀ·scale + bias)` on detached operands, `(batch, heads, seq, seq)`.
fn probs(q: &Tensor, k: &Tensor, bias: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(bias)?;
    candle_nn::ops::softmax_last_dim(&scores)
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
        let dv = p.t()?.matmul(&g)?;
        let dp = g.matmul(&v.t()?)?;
        let row = (&dp * &p)?.sum_keepdim(D::Minus1)?;
        let ds = (p * dp.broadcast_sub(&row)?)?;
        let dq = (ds.matmul(&k)? * self.scale)?;
        let dk = (ds.t()?.matmul(&q)? * self.scale)?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// `softmax(q·kᵀ·scale + bias)·v` for `q`, `k`, `v` `(batch, heads, seq, head_dim)`
/// (kv heads already repeated) and `bias` broadcastable to `(batch, heads, seq, seq)`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor, scale: f64) -> Result<Tensor> {
    let (qd, kd, vd) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let bias = bias.detach();
    let out = probs(&qd.detach(), &kd.detach(), &bias, scale)?.matmul(&vd.detach())?;
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
}
