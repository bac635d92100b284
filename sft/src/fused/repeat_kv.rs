//! Grouped-query attention's `repeat_kv` as one op: each of the `kv` heads of
//! `(batch, kv, seq, dim)` repeated `rep` times into `(batch, kv·rep, seq, dim)`.
//! Backward sums each group of `rep` head gradients, one head block per task on all
//! cores (candle's broadcast backward is a single-threaded strided `sum_keepdim`).

use super::{cpu_slice, par_rows, with_f32};
use crate::error::Result;
use crate::fused::zeroed;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

/// The custom op; `rep` copies of each kv head.
struct RepeatKv {
    rep: usize,
}

impl CustomOp1 for RepeatKv {
    fn name(&self) -> &'static str {
        "fused-repeat-kv"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, kv, seq, d) = l.shape().dims4()?;
        let x = cpu_slice(s, l)?;
        let block = seq * d;
        let rep = self.rep;
        let mut out = zeroed(x.len() * rep);
        // one output row per (batch, kv head): its `rep` copies side by side
        par_rows(b * kv, block * rep, &mut out, |first, chunk| {
            for (i, heads) in chunk.chunks_mut(block * rep).enumerate() {
                let src = &x[(first + i) * block..(first + i + 1) * block];
                for copy in heads.chunks_mut(block) {
                    copy.copy_from_slice(src);
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((b, kv * rep, seq, d))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (b, kv, seq, d) = x.dims4()?;
        let (block, rep) = (seq * d, self.rep);
        let mut gx = zeroed(x.elem_count());
        with_f32(grad, |g| {
            par_rows(b * kv, block, &mut gx, |first, chunk| {
                for (i, out) in chunk.chunks_mut(block).enumerate() {
                    let heads = &g[(first + i) * block * rep..(first + i + 1) * block * rep];
                    for copy in heads.chunks(block) {
                        for (o, &v) in out.iter_mut().zip(copy) {
                            *o += v;
                        }
                    }
                }
            })
        })?;
        Ok(Some(Tensor::from_vec(gx, x.shape(), x.device())?))
    }
}

/// `x (batch, kv, seq, dim)` → `(batch, kv·rep, seq, dim)`, each head repeated `rep`
/// times in place (head `h` of the output is kv head `h / rep`), for f32 CPU tensors.
pub fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
    Ok(x.contiguous()?.apply_op1(RepeatKv { rep })?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fused::testing::{assert_close, probe_backward, randn};
    use candle_core::Var;

    #[test]
    fn matches_broadcast_repeat_values_and_gradient() {
        let (b, kv, s, d, rep) = (2, 3, 4, 5, 3);
        let x = Var::from_tensor(&randn(0.0, 1.0, (b, kv, s, d))).unwrap();
        let probe = randn(0.0, 1.0, (b, kv * rep, s, d));
        let xt = x.as_tensor();
        let fused = repeat_kv(xt, rep).unwrap();
        let plain = xt
            .unsqueeze(2)
            .unwrap()
            .broadcast_as((b, kv, rep, s, d))
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((b, kv * rep, s, d))
            .unwrap();
        assert_close(&fused, &plain, 1e-7, "value");
        let gf = probe_backward(&fused, &probe);
        let gp = probe_backward(&plain, &probe);
        assert_close(gf.get(xt).unwrap(), gp.get(xt).unwrap(), 1e-6, "x");
    }
}
