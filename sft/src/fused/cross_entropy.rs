//! Masked next-token cross-entropy straight from the `(batch, seq, vocab)` logits,
//! as one op: no shifted copy of the logits and no log-softmax tensor. Row `r`
//! (position `t` of sequence `b`) contributes `w_r · (logsumexp(z_r) − z_r[y_r])`;
//! rows with weight 0 (the last position of each sequence, prompt, padding) are
//! skipped. Backward: `(softmax(z_r) − onehot(y_r)) · w_r · g`, zero elsewhere,
//! from the row's logsumexp kept by the forward pass. Exponentials are taken in f32
//! (cheaper than f64 ones) and summed in f64.

use super::{Precomputed, exp, par_rows, with_f32};
use crate::error::Result;
use crate::fused::zeroed;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use std::sync::Arc;

/// The custom op over the logits; targets, weights and logsumexp per row.
struct MaskedCrossEntropy {
    targets: Arc<Vec<u32>>,
    weights: Arc<Vec<f32>>,
    /// `logsumexp(z_r)` of each trained row (0 for rows with weight 0).
    lse: Vec<f32>,
    out: Precomputed,
}

/// `logsumexp` of one row: f32 exponentials of `x − max`, summed in f64 (eight
/// interleaved sums, so the loop vectorizes).
fn logsumexp(z: &[f32]) -> f64 {
    let m = exp::max(z);
    let mut lanes = [0f64; 8];
    let chunks = z.chunks_exact(8);
    let rest: f64 = chunks
        .remainder()
        .iter()
        .map(|&x| f64::from(exp::exp(x - m)))
        .sum();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += f64::from(exp::exp(x - m));
        }
    }
    let s: f64 = lanes.iter().sum::<f64>() + rest;
    m as f64 + s.ln()
}

impl CustomOp1 for MaskedCrossEntropy {
    fn name(&self) -> &'static str {
        "fused-masked-cross-entropy"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.out.take()
    }

    fn bwd(
        &self,
        logits: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let g = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? as f64;
        let v = logits.dim(candle_core::D::Minus1)?;
        let rows = logits.elem_count() / v.max(1);
        let mut out = zeroed(rows * v);
        with_f32(logits, |z| {
            par_rows(rows, v, &mut out, |first, chunk| {
                for (i, o) in chunk.chunks_mut(v).enumerate() {
                    let r = first + i;
                    let w = self.weights[r];
                    if w == 0.0 {
                        continue;
                    }
                    let zr = &z[r * v..(r + 1) * v];
                    let lse = self.lse[r];
                    let c = (w as f64 * g) as f32;
                    for (oj, &zj) in o.iter_mut().zip(zr) {
                        *oj = exp::exp(zj - lse) * c;
                    }
                    o[self.targets[r] as usize] -= c;
                }
            });
        })?;
        Ok(Some(Tensor::from_vec(
            out,
            logits.shape(),
            logits.device(),
        )?))
    }
}

/// `Σ_r w_r · −log softmax(logits_r)[targets_r]` over the rows of `logits`
/// `(..., vocab)`, a scalar. `targets` and `weights` hold one entry per row; a row
/// with weight 0 is skipped and its target is not read.
pub fn masked_cross_entropy(
    logits: &Tensor,
    targets: Vec<u32>,
    weights: Vec<f32>,
) -> Result<Tensor> {
    let v = logits.dim(candle_core::D::Minus1)?;
    let rows = logits.elem_count() / v.max(1);
    if targets.len() != rows || weights.len() != rows {
        return Err(crate::SftError::InvalidArgument(format!(
            "{} targets and {} weights for {rows} rows of logits",
            targets.len(),
            weights.len()
        )));
    }
    if let Some((r, &t)) = targets
        .iter()
        .enumerate()
        .find(|&(r, &t)| weights[r] != 0.0 && t as usize >= v)
    {
        return Err(crate::SftError::InvalidArgument(format!(
            "target token {t} of row {r} is outside the vocabulary of {v}"
        )));
    }
    let logits = logits.contiguous()?;
    // Per row: [logsumexp, weighted loss], computed in f64 and kept as f32.
    let mut per_row = zeroed(rows * 2);
    with_f32(&logits, |z| {
        par_rows(rows, 2, &mut per_row, |first, chunk| {
            for (i, o) in chunk.chunks_mut(2).enumerate() {
                let r = first + i;
                let w = weights[r];
                if w != 0.0 {
                    let zr = &z[r * v..(r + 1) * v];
                    let lse = logsumexp(zr);
                    o[0] = lse as f32;
                    o[1] = (w as f64 * (lse - zr[targets[r] as usize] as f64)) as f32;
                }
            }
        });
    })?;
    let total: f64 = per_row.chunks(2).map(|o| o[1] as f64).sum();
    let lse = per_row.chunks(2).map(|o| o[0]).collect();
    let out = Tensor::new(total as f32, logits.device())?;
    let op = MaskedCrossEntropy {
        targets: Arc::new(targets),
        weights: Arc::new(weights),
        lse,
        out: Precomputed::new(out),
    };
    Ok(logits.apply_op1(op)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::fused::testing::{assert_close, randn};
    use crate::loss::{causal_lm_loss, causal_lm_loss_composed};
    use candle_core::{Device, Tensor, Var};

    #[test]
    fn matches_composed_masked_loss_and_gradient() {
        let dev = Device::Cpu;
        let (b, s, v) = (2, 5, 11);
        let logits = Var::from_tensor(&randn(0.0, 2.0, (b, s, v))).unwrap();
        let ids = Tensor::new(&[[1u32, 4, 10, 0, 3], [7, 2, 2, 9, 5]], &dev).unwrap();
        // prompt tokens and trailing padding are 0
        let mask = Tensor::new(&[[0u32, 0, 1, 1, 1], [0, 1, 1, 0, 0]], &dev).unwrap();
        let fused = causal_lm_loss(logits.as_tensor(), &ids, &mask).unwrap();
        let plain = causal_lm_loss_composed(logits.as_tensor(), &ids, &mask).unwrap();
        // row 0 trains positions 2, 3, 4 and row 1 positions 1, 2
        assert_eq!(fused.tokens, 5);
        assert_eq!(plain.tokens, 5);
        assert_close(&fused.sum, &plain.sum, 1e-5, "loss");
        let gf = (fused.mean().unwrap() * 3.0).unwrap().backward().unwrap();
        let gp = (plain.mean().unwrap() * 3.0).unwrap().backward().unwrap();
        let t = logits.as_tensor();
        assert_close(gf.get(t).unwrap(), gp.get(t).unwrap(), 1e-5, "logits grad");
    }
}
