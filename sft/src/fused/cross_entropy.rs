//! Masked next-token cross-entropy straight from the `(batch, seq, vocab)` logits,
//! as one op: no shifted copy of the logits and no log-softmax tensor. Row `r`
//! (position `t` of sequence `b`) contributes `w_r · (logsumexp(z_r) − z_r[y_r])`;
//! rows with weight 0 (the last position of each sequence, prompt, padding) are
//! skipped. Backward: `(softmax(z_r) − onehot(y_r)) · w_r · g`, zero elsewhere,
//! from the row's logsumexp kept by the forward pass. Exponentials are taken in f32
//! (cheaper than f64 ones) and summed in f64.
//!
//! [`grouped_masked_cross_entropy`] sums the same per-row terms per group of rows
//! (DPO: per sequence) into a vector, and routes each group's upstream gradient back
//! to its rows.

use super::{Precomputed, exp, par_rows, with_f32};
use crate::error::Result;
use crate::fused::zeroed;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use std::sync::Arc;

/// The custom op over the logits; targets, weights and logsumexp per row.
struct MaskedCrossEntropy {
    targets: Arc<Vec<u32>>,
    weights: Arc<Vec<f32>>,
    /// The output element each row adds to: `None` for the scalar sum, else the
    /// row's group (the output is then one element per group).
    groups: Option<Arc<Vec<u32>>>,
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
        // The upstream gradient of each row's term: the scalar's, or its group's.
        let grad = grad.to_dtype(candle_core::DType::F32)?;
        let upstream: Vec<f32> = match &self.groups {
            None => vec![grad.to_scalar::<f32>()?],
            Some(_) => grad.to_vec1::<f32>()?,
        };
        let row_grad = |r: usize| -> f64 {
            match &self.groups {
                None => f64::from(upstream[0]),
                Some(groups) => f64::from(upstream[groups[r] as usize]),
            }
        };
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
                    let c = (w as f64 * row_grad(r)) as f32;
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
    apply(logits, targets, weights, None)
}

/// Per group `g`: `Σ_{r : groups[r] = g} w_r · −log softmax(logits_r)[targets_r]`
/// over the rows of `logits` `(..., vocab)`, a vector of `n_groups` (groups without a
/// weighted row are 0). `targets`, `weights` and `groups` hold one entry per row; a
/// row with weight 0 is skipped and its target is not read.
pub fn grouped_masked_cross_entropy(
    logits: &Tensor,
    targets: Vec<u32>,
    weights: Vec<f32>,
    groups: Vec<u32>,
    n_groups: usize,
) -> Result<Tensor> {
    if let Some((r, &g)) = groups
        .iter()
        .enumerate()
        .find(|&(_, &g)| g as usize >= n_groups)
    {
        return Err(crate::SftError::InvalidArgument(format!(
            "row {r} is in group {g} of {n_groups}"
        )));
    }
    apply(logits, targets, weights, Some((groups, n_groups)))
}

/// The forward pass of both ops: per-row terms, summed into one scalar or per group.
fn apply(
    logits: &Tensor,
    targets: Vec<u32>,
    weights: Vec<f32>,
    groups: Option<(Vec<u32>, usize)>,
) -> Result<Tensor> {
    let v = logits.dim(candle_core::D::Minus1)?;
    let rows = logits.elem_count() / v.max(1);
    let group_count = groups.as_ref().map(|(g, _)| g.len());
    if targets.len() != rows || weights.len() != rows || group_count.is_some_and(|n| n != rows) {
        return Err(crate::SftError::InvalidArgument(format!(
            "{} targets, {} weights and {} groups for {rows} rows of logits",
            targets.len(),
            weights.len(),
            group_count.map_or_else(|| "no".to_string(), |n| n.to_string())
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
    let lse = per_row.chunks(2).map(|o| o[0]).collect();
    let (out, groups) = match groups {
        None => {
            let total: f64 = per_row.chunks(2).map(|o| o[1] as f64).sum();
            (Tensor::new(total as f32, logits.device())?, None)
        }
        Some((groups, n_groups)) => {
            let mut totals = vec![0f64; n_groups];
            for (o, &g) in per_row.chunks(2).zip(&groups) {
                totals[g as usize] += o[1] as f64;
            }
            let totals: Vec<f32> = totals.into_iter().map(|t| t as f32).collect();
            (
                Tensor::from_vec(totals, n_groups, logits.device())?,
                Some(Arc::new(groups)),
            )
        }
    };
    let op = MaskedCrossEntropy {
        targets: Arc::new(targets),
        weights: Arc::new(weights),
        groups,
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

    #[test]
    fn grouped_sums_and_routes_each_groups_gradient_like_the_composed_ops() {
        use super::grouped_masked_cross_entropy;
        use candle_core::{D, DType};
        let dev = Device::Cpu;
        let (rows, v, groups) = (7, 13, 3);
        let logits = Var::from_tensor(&randn(0.0, 2.0, (rows, v))).unwrap();
        let targets = vec![3u32, 12, 0, 5, 7, 99, 1];
        // Row 5 has weight 0 (its out-of-vocabulary target is never read); group 2
        // holds only that row, so its sum is 0.
        let weights = vec![1f32, 0.5, 1.0, 1.0, 2.0, 0.0, 1.0];
        let group_of = vec![0u32, 0, 1, 1, 0, 2, 1];
        let fused = grouped_masked_cross_entropy(
            logits.as_tensor(),
            targets.clone(),
            weights.clone(),
            group_of.clone(),
            groups,
        )
        .unwrap();
        // The same in f64 with candle's own ops: per-row w·(−log softmax)[target],
        // summed per group through a (groups, rows) 0/1 matrix.
        let z = logits.as_tensor().to_dtype(DType::F64).unwrap();
        let logp = candle_nn::ops::log_softmax(&z, D::Minus1).unwrap();
        let safe: Vec<u32> = targets.iter().map(|&t| t.min(v as u32 - 1)).collect();
        let idx = Tensor::from_vec(safe, (rows, 1), &dev).unwrap();
        let picked = logp
            .gather(&idx, D::Minus1)
            .unwrap()
            .squeeze(D::Minus1)
            .unwrap();
        let w =
            Tensor::from_vec(weights.iter().map(|&w| f64::from(w)).collect(), rows, &dev).unwrap();
        let per_row = (picked * w).unwrap().neg().unwrap();
        let mut member = vec![0f64; groups * rows];
        for (r, &g) in group_of.iter().enumerate() {
            member[g as usize * rows + r] = 1.0;
        }
        let member = Tensor::from_vec(member, (groups, rows), &dev).unwrap();
        let plain = member
            .matmul(&per_row.unsqueeze(1).unwrap())
            .unwrap()
            .squeeze(1)
            .unwrap();
        assert_eq!(fused.dims(), [groups]);
        let plain32 = plain.to_dtype(DType::F32).unwrap();
        assert_close(&fused, &plain32, 1e-5, "group sums");
        assert_eq!(fused.to_vec1::<f32>().unwrap()[2], 0.0);
        // Distinct upstream weights per group: each row's gradient must be scaled by
        // its own group's.
        let upstream = Tensor::new(&[1.5f32, -0.25, 4.0], &dev).unwrap();
        let gf = (fused * &upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let up64 = upstream.to_dtype(DType::F64).unwrap();
        let gp = (plain * up64)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let t = logits.as_tensor();
        let gp32 = gp.get(t).unwrap().to_dtype(DType::F32).unwrap();
        assert_close(gf.get(t).unwrap(), &gp32, 1e-5, "logits grad");
        // A group index past `n_groups` is refused.
        assert!(
            grouped_masked_cross_entropy(t, targets, weights, vec![0, 0, 0, 0, 0, 0, 3], groups)
                .is_err()
        );
    }
}
