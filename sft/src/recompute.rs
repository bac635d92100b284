//! Attention and cross-entropy for devices other than the CPU (the GPU path), with
//! activation checkpointing per op.
//!
//! Composed from candle's ops, every intermediate of `softmax(q·kᵀ·scale + bias)·v`
//! (six `(batch, heads, seq, seq)` tensors per layer) and of the log-softmax over the
//! vocabulary stays alive until backward: a Llama-3.2-1B-shaped LoRA step at 4 × 1024
//! tokens ran out of an H200's 139 GiB. Here each op computes its forward from
//! candle's ops on *detached* inputs, so the intermediates are freed at once, and
//! attaches only the output to the graph through a custom op that hands it back. Its
//! backward recomputes what it needs, as the CPU's fused ops do (`crate::fused`), but
//! with tensor ops that run on any device. The CPU keeps the fused ops (faster there);
//! these run on the CPU too, which is how their tests check them.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp3, D, DType, Layout, Shape, Storage, Tensor,
    backend::BackendStorage,
};
use std::sync::Mutex;

/// A forward result computed ahead of the custom op, handed over once by its forward.
#[derive(Debug)]
struct Handoff(Mutex<Option<Tensor>>);

impl Handoff {
    fn new(t: Tensor) -> Self {
        Handoff(Mutex::new(Some(t)))
    }

    /// The tensor, contiguous from offset 0 (so its storage is exactly its elements).
    fn take(&self) -> candle_core::Result<Tensor> {
        let t = self
            .0
            .lock()
            .map_err(|_| candle_core::Error::Msg("recompute op: poisoned output slot".into()))?
            .take()
            .ok_or_else(|| candle_core::Error::Msg("recompute op: forward ran twice".into()))?;
        let fresh = t.layout().is_contiguous() && t.layout().start_offset() == 0;
        if fresh { Ok(t) } else { t.copy() }
    }

    fn take_cpu(&self) -> candle_core::Result<(CpuStorage, Shape)> {
        let t = self.take()?;
        let (storage, layout) = t.storage_and_layout();
        match &*storage {
            Storage::Cpu(s) => Ok((s.try_clone(layout)?, t.shape().clone())),
            _ => Err(candle_core::Error::Msg(
                "recompute op: output not on the CPU".into(),
            )),
        }
    }

    #[cfg(feature = "cuda")]
    fn take_cuda(&self) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let t = self.take()?;
        let (storage, layout) = t.storage_and_layout();
        match &*storage {
            Storage::Cuda(s) => Ok((s.try_clone(layout)?, t.shape().clone())),
            _ => Err(candle_core::Error::Msg(
                "recompute op: output not on the GPU".into(),
            )),
        }
    }
}

/// `softmax(q·kᵀ·scale + bias)` over detached operands.
fn probs(q: &Tensor, k: &Tensor, bias: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(bias)?;
    candle_nn::ops::softmax_last_dim(&scores)
}

/// The attention core over `(q, k, v)`, the bias captured.
struct Attention {
    bias: Tensor,
    scale: f64,
    out: Handoff,
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "recomputed-attention"
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
        self.out.take_cpu()
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.out.take_cuda()
    }

    /// `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P⊙(dP − rowsum(dP⊙P))·scale`, `dQ = dS·K`,
    /// `dK = dSᵀ·Q`, with `P` recomputed.
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
        let dot = (&dp * &p)?.sum_keepdim(D::Minus1)?;
        let ds = ((p * dp.broadcast_sub(&dot)?)? * self.scale)?;
        let dq = ds.matmul(&k)?;
        let dk = ds.t()?.matmul(&q)?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// `softmax(q·kᵀ·scale + bias)·v` for `q`, `k`, `v` `(batch, heads, seq, head_dim)`
/// (kv heads already repeated) and `bias` broadcastable to `(batch, heads, seq, seq)`;
/// only the output is kept for backward.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let bias = bias.detach();
    let out = probs(&q.detach(), &k.detach(), &bias, scale)?.matmul(&v.detach())?;
    let op = Attention {
        bias,
        scale,
        out: Handoff::new(out),
    };
    q.apply_op3(&k, &v, op)
}

/// Per group `g`: `Σ_{i in g} wᵢ·(logsumexp(xᵢ) − xᵢ[tᵢ])` over the rows of
/// `(n, vocab)` logits.
struct CrossEntropy {
    /// `(n, 1)` u32.
    targets: Tensor,
    /// `(n, 1)`, the logits' dtype.
    weights: Tensor,
    /// `(n,)` u32: the group of each row.
    groups: Tensor,
    out: Handoff,
}

/// `(n, 1)` log-sum-exp of each row.
fn logsumexp(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let sum = x.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?;
    sum.log()? + max
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "recomputed-cross-entropy"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.out.take_cpu()
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.out.take_cuda()
    }

    /// `d xᵢ = g[group i]·wᵢ·(softmax(xᵢ) − onehot(tᵢ))`, the softmax recomputed.
    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let x = x.detach();
        // (n, 1): each row's upstream gradient times its weight
        let per_row = grad.detach().index_select(&self.groups, 0)?.unsqueeze(1)?;
        let gw = (&self.weights * per_row)?;
        let soft = x.broadcast_sub(&logsumexp(&x)?)?.exp()?;
        let dx = soft.broadcast_mul(&gw)?;
        Ok(Some(dx.scatter_add(
            &self.targets,
            &gw.neg()?,
            D::Minus1,
        )?))
    }
}

/// The weighted negative log-likelihood of `targets` `(n,)` under `logits`
/// `(n, vocab)`, weights `(n,)`, summed per group: `groups` `(n,)` (integers below
/// `n_groups`) names each row's group; the result is `(n_groups,)`. Backward recomputes
/// the softmax instead of keeping log-probabilities of the whole vocabulary.
pub fn cross_entropy_grouped(
    logits: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
    groups: &Tensor,
    n_groups: usize,
) -> candle_core::Result<Tensor> {
    let logits = logits.contiguous()?;
    let targets = targets.to_dtype(DType::U32)?.unsqueeze(D::Minus1)?;
    let weights = weights.to_dtype(logits.dtype())?.unsqueeze(D::Minus1)?;
    let groups = groups.to_dtype(DType::U32)?.contiguous()?;
    let x = logits.detach();
    let picked = x.gather(&targets, D::Minus1)?;
    // (n,)
    let rows = ((logsumexp(&x)? - picked)? * &weights)?.squeeze(D::Minus1)?;
    let sums =
        Tensor::zeros(n_groups, logits.dtype(), logits.device())?.index_add(&groups, &rows, 0)?;
    let op = CrossEntropy {
        targets,
        weights,
        groups,
        out: Handoff::new(sums),
    };
    logits.apply_op1(op)
}

/// [`cross_entropy_grouped`] with every row in one group: a scalar.
pub fn cross_entropy_sum(
    logits: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
) -> candle_core::Result<Tensor> {
    let n = logits.dim(0)?;
    let groups = Tensor::zeros(n, DType::U32, logits.device())?;
    cross_entropy_grouped(logits, targets, weights, &groups, 1)?.squeeze(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fused::testing::{assert_close, probe_backward, randn};
    use crate::mask::attention_bias;
    use candle_core::{Device, Var};

    /// Attention from candle's differentiable ops, every step in the graph.
    fn composed(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor, scale: f64) -> Tensor {
        let s = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
        crate::ops::softmax_last_dim(&s.broadcast_add(bias).unwrap())
            .unwrap()
            .matmul(v)
            .unwrap()
    }

    #[test]
    fn attention_matches_the_composed_ops_forward_and_backward() {
        let (b, h, s, d) = (2, 3, 7, 4);
        // row 1 padded after 5 tokens; row 0 two packed sequences (positions restart)
        let mask = Tensor::new(&[[1u32; 7], [1, 1, 1, 1, 1, 0, 0]], &Device::Cpu).unwrap();
        let pos = Tensor::new(
            &[[0u32, 1, 2, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6]],
            &Device::Cpu,
        )
        .unwrap();
        let bias = attention_bias(Some(&mask), &pos, &Device::Cpu).unwrap();
        let [q, k, v] =
            [0, 1, 2].map(|_| Var::from_tensor(&randn(0.0, 1.0, (b, h, s, d))).unwrap());
        let probe = randn(0.0, 1.0, (b, h, s, d));
        let scale = 0.5;
        let ours = attention(&q, &k, &v, &bias, scale).unwrap();
        let want = composed(&q, &k, &v, &bias, scale);
        assert_close(&ours, &want, 1e-5, "output");
        let (g1, g2) = (probe_backward(&ours, &probe), probe_backward(&want, &probe));
        for (name, x) in [("q", &q), ("k", &k), ("v", &v)] {
            let (a, e) = (g1.get(x).unwrap(), g2.get(x).unwrap());
            assert!(
                e.abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 1e-3
            );
            assert_close(a, e, 1e-5, name);
        }
    }

    #[test]
    fn cross_entropy_matches_the_composed_ops_forward_and_backward() {
        let (n, vocab) = (9, 13);
        let x = Var::from_tensor(&randn(0.0, 2.0, (n, vocab))).unwrap();
        let targets = Tensor::new(&[0u32, 12, 5, 5, 7, 1, 3, 11, 2], &Device::Cpu).unwrap();
        // a zero weight drops a row, a repeated target checks accumulation
        let weights = Tensor::new(
            &[1f32, 0.0, 1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 1.0],
            &Device::Cpu,
        )
        .unwrap();
        let ours = cross_entropy_sum(&x, &targets, &weights).unwrap();
        let logp = crate::ops::log_softmax_last_dim(&x).unwrap();
        let picked = logp
            .gather(&targets.unsqueeze(1).unwrap(), 1)
            .unwrap()
            .squeeze(1)
            .unwrap();
        let want = (picked * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .neg()
            .unwrap();
        assert_close(&ours, &want, 1e-6, "loss");
        let (g1, g2) = (ours.backward().unwrap(), want.backward().unwrap());
        let (a, e) = (g1.get(&x).unwrap(), g2.get(&x).unwrap());
        assert_close(a, e, 1e-6, "gradient");
        // the zero-weight row gets no gradient
        let row1 = a.get(1).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(row1.to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn grouped_cross_entropy_sums_and_routes_each_groups_gradient() {
        let (n, vocab) = (8, 11);
        let x = Var::from_tensor(&randn(0.0, 2.0, (n, vocab))).unwrap();
        let targets = Tensor::new(&[3u32, 3, 0, 10, 7, 7, 1, 5], &Device::Cpu).unwrap();
        let weights =
            Tensor::new(&[1f32, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0], &Device::Cpu).unwrap();
        // rows 0-2 in group 2, 3-4 in group 0, 5-7 in group 1; group 3 is empty
        let groups = Tensor::new(&[2u32, 2, 2, 0, 0, 1, 1, 1], &Device::Cpu).unwrap();
        let ours = cross_entropy_grouped(&x, &targets, &weights, &groups, 4).unwrap();
        let upstream = Tensor::new(&[0.5f32, -1.5, 2.0, 9.0], &Device::Cpu).unwrap();
        let logp = crate::ops::log_softmax_last_dim(&x).unwrap();
        let nll = logp
            .gather(&targets.unsqueeze(1).unwrap(), 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .neg()
            .unwrap();
        let rows = (nll * &weights).unwrap();
        let want = Tensor::stack(
            &[
                rows.narrow(0, 3, 2).unwrap().sum_all().unwrap(),
                rows.narrow(0, 5, 3).unwrap().sum_all().unwrap(),
                rows.narrow(0, 0, 3).unwrap().sum_all().unwrap(),
                Tensor::new(0f32, &Device::Cpu).unwrap(),
            ],
            0,
        )
        .unwrap();
        assert_close(&ours, &want, 1e-6, "sums");
        let g1 = (&ours * &upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (&want * &upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_close(g1.get(&x).unwrap(), g2.get(&x).unwrap(), 1e-6, "gradient");
    }
}
