//! Summed log-probabilities of completions under a causal LM, as TRL's `DPOTrainer`
//! forms them: position `t`'s logits predict token `t + 1`, which counts when its
//! completion-mask entry is non-zero (prompt, padding and masked formatting tokens are
//! 0), and the per-token log-probabilities are summed per sequence.

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
    let (b, s, _v) = logits.dims3()?;
    if input_ids.dims() != [b, s] || completion_mask.dims() != [b, s] {
        return Err(DpoError::InvalidInput(format!(
            "logits {:?}, input_ids {:?} and completion_mask {:?} disagree",
            logits.dims(),
            input_ids.dims(),
            completion_mask.dims()
        )));
    }
    if s < 2 {
        return Err(DpoError::InvalidInput(
            "sequences need at least 2 tokens".into(),
        ));
    }
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
    let tokens = mask
        .to_dtype(DType::U32)?
        .sum(1)?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|n| n as usize)
        .collect();
    Ok(SequenceLogps { logps, tokens })
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
