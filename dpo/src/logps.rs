//! Summed log-probabilities of completions under a causal LM, as TRL's `DPOTrainer`
//! forms them: position `t`'s logits predict token `t + 1`, which counts when its
//! completion-mask entry is non-zero (prompt, padding and masked formatting tokens are
//! 0), and the per-token log-probabilities are summed per sequence.
//!
//! f32 logits on the CPU take `sft`'s fused cross-entropy, summed per sequence: no
//! shifted copy of the logits and no log-softmax tensor is kept for the backward
//! pass, which needs one gradient the size of the logits. Other dtypes and devices
//! (the GPU) take `sft::recompute`'s grouped cross-entropy, which keeps no
//! log-softmax tensor either ([`sequence_logps_recomputed`]). The composed ops
//! ([`sequence_logps_composed`]) are the reference both are tested against.

use crate::error::{DpoError, Result};
use candle_core::{D, DType, Tensor};
use sft::ops::log_softmax_last_dim;

/// Per-sequence summed log-probabilities and the token counts they cover.
#[derive(Debug, Clone)]
pub struct SequenceLogps {
    /// `Σ_t mask[t+1] · log softmax(logits[t])[ids[t+1]]` per row, `(batch,)`, in the
    /// logits' dtype, differentiable.
    pub logps: Tensor,
    /// Completion tokens counted per row.
    pub tokens: Vec<usize>,
}

/// Summed masked log-probabilities of each row's completion.
///
/// `logits` `(batch, seq, vocab)`, `input_ids` and `completion_mask` `(batch, seq)`
/// (any integer or float dtype; non-zero marks a completion token). Rows whose mask
/// selects nothing get 0 with a count of 0.
pub fn sequence_logps(
    logits: &Tensor,
    input_ids: &Tensor,
    completion_mask: &Tensor,
) -> Result<SequenceLogps> {
    check_shapes(logits, input_ids, completion_mask)?;
    if !sft::fused::fusable(&[logits]) {
        return sequence_logps_recomputed(logits, input_ids, completion_mask);
    }
    let (b, s, _v) = logits.dims3()?;
    let ids = input_ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    let mask = completion_mask
        .to_dtype(DType::F32)?
        .ne(0f32)?
        .to_dtype(DType::U32)?
        .to_vec2::<u32>()?;
    // Row `i·s + t` of the flattened logits predicts token `t + 1` of sequence `i`;
    // the last position of each sequence predicts nothing.
    let mut targets = vec![0u32; b * s];
    let mut weights = vec![0f32; b * s];
    let mut groups = vec![0u32; b * s];
    let mut tokens = vec![0usize; b];
    for i in 0..b {
        let group = u32::try_from(i)
            .map_err(|_| DpoError::InvalidInput(format!("{b} sequences in one batch")))?;
        for t in 0..s {
            groups[i * s + t] = group;
            if t + 1 < s && mask[i][t + 1] != 0 {
                targets[i * s + t] = ids[i][t + 1];
                weights[i * s + t] = 1.0;
                tokens[i] += 1;
            }
        }
    }
    let nll = sft::fused::cross_entropy::grouped_masked_cross_entropy(
        logits, targets, weights, groups, b,
    )?;
    Ok(SequenceLogps {
        logps: nll.neg()?,
        tokens,
    })
}

/// [`sequence_logps`] for the dtypes and devices the fused op does not handle: the
/// shifted logits' cross-entropy summed per sequence by
/// `sft::recompute::cross_entropy_grouped` (softmax recomputed in backward).
pub fn sequence_logps_recomputed(
    logits: &Tensor,
    input_ids: &Tensor,
    completion_mask: &Tensor,
) -> Result<SequenceLogps> {
    check_shapes(logits, input_ids, completion_mask)?;
    let (b, s, _v) = logits.dims3()?;
    let shifted = sft::loss::shift_for_next_token(logits, input_ids, completion_mask)?;
    let (pred, targets, mask) = (shifted.logits, shifted.targets, shifted.mask);
    let groups = Tensor::arange(0u32, b as u32, logits.device())?
        .unsqueeze(1)?
        .broadcast_as((b, s - 1))?
        .flatten_all()?;
    let nll = sft::recompute::cross_entropy_grouped(
        &pred,
        &targets,
        &mask.flatten_all()?.to_dtype(logits.dtype())?,
        &groups,
        b,
    )?;
    Ok(SequenceLogps {
        logps: nll.neg()?,
        tokens: token_counts(&mask)?,
    })
}

/// Completion tokens per row of a `(batch, seq − 1)` 0/1 mask.
fn token_counts(mask: &Tensor) -> Result<Vec<usize>> {
    Ok(mask
        .to_dtype(DType::U32)?
        .sum(1)?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|n| n as usize)
        .collect())
}

/// [`sequence_logps`] with candle's composed ops (log-softmax, gather, masked sum):
/// the reference the fused and recomputed paths are tested against.
pub fn sequence_logps_composed(
    logits: &Tensor,
    input_ids: &Tensor,
    completion_mask: &Tensor,
) -> Result<SequenceLogps> {
    check_shapes(logits, input_ids, completion_mask)?;
    let (_b, s, _v) = logits.dims3()?;
    // (batch, seq - 1, vocab) predicting (batch, seq - 1)
    let logp = log_softmax_last_dim(&logits.narrow(1, 0, s - 1)?)?;
    let targets = input_ids
        .narrow(1, 1, s - 1)?
        .to_dtype(DType::U32)?
        .contiguous()?;
    // (batch, seq - 1)
    let picked = logp
        .gather(&targets.unsqueeze(D::Minus1)?, D::Minus1)?
        .squeeze(D::Minus1)?;
    let mask = completion_mask
        .narrow(1, 1, s - 1)?
        .to_dtype(DType::F32)?
        .ne(0f32)?;
    let weights = mask.to_dtype(picked.dtype())?;
    let logps = (picked * &weights)?.sum(1)?;
    Ok(SequenceLogps {
        logps,
        tokens: token_counts(&mask)?,
    })
}

/// The three inputs agree on `(batch, seq)` and there are at least 2 positions
/// (`sft`'s check, its refusal reported as this crate's invalid input).
fn check_shapes(logits: &Tensor, input_ids: &Tensor, completion_mask: &Tensor) -> Result<()> {
    sft::loss::check_shapes(logits, input_ids, completion_mask).map_err(|e| match e {
        sft::SftError::InvalidArgument(message) => DpoError::InvalidInput(message),
        other => other.into(),
    })
}

impl SequenceLogps {
    /// Splits a batch laid out as TRL's (`B` chosen rows, then their `B` rejected
    /// rows) into its chosen and rejected halves.
    pub fn split_pairs(&self) -> Result<(SequenceLogps, SequenceLogps)> {
        let n = self.tokens.len();
        if n == 0 || !n.is_multiple_of(2) || self.logps.dims() != [n] {
            return Err(DpoError::InvalidInput(format!(
                "a pair batch needs an even, non-zero number of rows; got {n} counts and logps {:?}",
                self.logps.dims()
            )));
        }
        let b = n / 2;
        let half = |start: usize| -> Result<SequenceLogps> {
            Ok(SequenceLogps {
                logps: self.logps.narrow(0, start, b)?,
                tokens: self.tokens[start..start + b].to_vec(),
            })
        };
        Ok((half(0)?, half(b)?))
    }
}
