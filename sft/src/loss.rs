//! Masked next-token cross-entropy: only positions whose target token is marked in
//! the loss mask count (candle's `cross_entropy` has no ignore index).

use crate::error::{Result, SftError};
use crate::ops::log_softmax_last_dim;
use candle_core::{D, DType, Tensor};

/// The summed loss and how many tokens it covers.
#[derive(Debug, Clone)]
pub struct MaskedLoss {
    /// Sum of `-log p(target)` over the trained tokens: a scalar tensor, differentiable.
    pub sum: Tensor,
    /// Number of trained tokens.
    pub tokens: usize,
}

impl MaskedLoss {
    /// The mean over trained tokens (what TRL reports as `loss`).
    pub fn mean(&self) -> Result<Tensor> {
        Ok((&self.sum / self.tokens.max(1) as f64)?)
    }
}

/// Causal-LM loss: position `t`'s logits predict `input_ids[t + 1]`, counted when
/// `loss_mask[t + 1]` is non-zero (the mask marks the tokens to learn, e.g. the
/// assistant's reply; padding and prompt are 0).
///
/// `logits` `(batch, seq, vocab)`, `input_ids` and `loss_mask` `(batch, seq)`.
/// An all-zero mask is an error: it would train on nothing.
///
/// f32 CPU logits go through the fused op [`crate::fused::cross_entropy`] (no
/// shifted copy, no log-softmax tensor kept for backward); others are composed.
pub fn causal_lm_loss(
    logits: &Tensor,
    input_ids: &Tensor,
    loss_mask: &Tensor,
) -> Result<MaskedLoss> {
    if !crate::fused::fusable(&[logits]) {
        return shifted_loss(logits, input_ids, loss_mask, true);
    }
    check_shapes(logits, input_ids, loss_mask)?;
    let (targets, weights, tokens) = next_token_rows(input_ids, loss_mask)?;
    let sum = crate::fused::cross_entropy::masked_cross_entropy(logits, targets, weights)?;
    Ok(MaskedLoss { sum, tokens })
}

/// Per row of the flattened `(batch, seq)` positions: the next token (the target of
/// that position's logits), a weight of 1 where that token is trained (0 for the last
/// position, prompt and padding), and the number of trained rows. An all-zero mask is
/// an error.
pub fn next_token_rows(
    input_ids: &Tensor,
    loss_mask: &Tensor,
) -> Result<(Vec<u32>, Vec<f32>, usize)> {
    let (b, s) = input_ids.dims2()?;
    let ids = input_ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    let mask = loss_mask.ne(0u32)?.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    let mut targets = vec![0u32; b * s];
    let mut weights = vec![0f32; b * s];
    let mut tokens = 0usize;
    for i in 0..b {
        for t in 0..s.saturating_sub(1) {
            if mask[i][t + 1] != 0 {
                targets[i * s + t] = ids[i][t + 1];
                weights[i * s + t] = 1.0;
                tokens += 1;
            }
        }
    }
    if tokens == 0 {
        return Err(SftError::InvalidArgument(
            "the loss mask selects no token to train on".into(),
        ));
    }
    Ok((targets, weights, tokens))
}

/// Checks that `logits` `(batch, seq, vocab)` and the `(batch, seq)` ids and mask
/// agree, and that there are at least 2 positions (shared with `dpo`'s log-probs).
pub fn check_shapes(logits: &Tensor, input_ids: &Tensor, loss_mask: &Tensor) -> Result<()> {
    let (b, s, _) = logits.dims3()?;
    if input_ids.dims() != [b, s] || loss_mask.dims() != [b, s] {
        return Err(SftError::InvalidArgument(format!(
            "logits {:?}, input_ids {:?} and loss_mask {:?} disagree",
            logits.dims(),
            input_ids.dims(),
            loss_mask.dims()
        )));
    }
    if s < 2 {
        return Err(SftError::InvalidArgument(
            "sequences need at least 2 tokens".into(),
        ));
    }
    Ok(())
}

/// [`causal_lm_loss`] from candle's differentiable ops: the reference the fused op is
/// tested against.
#[cfg(test)]
pub(crate) fn causal_lm_loss_composed(
    logits: &Tensor,
    input_ids: &Tensor,
    loss_mask: &Tensor,
) -> Result<MaskedLoss> {
    shifted_loss(logits, input_ids, loss_mask, false)
}

/// [`causal_lm_loss`] off the CPU: the cross-entropy from candle's ops, recomputing the
/// softmax in backward ([`crate::recompute::cross_entropy_sum`]) when `recompute`,
/// else with every step in the graph.
fn shifted_loss(
    logits: &Tensor,
    input_ids: &Tensor,
    loss_mask: &Tensor,
    recompute: bool,
) -> Result<MaskedLoss> {
    check_shapes(logits, input_ids, loss_mask)?;
    let shifted = shift_for_next_token(logits, input_ids, loss_mask)?;
    let (pred, targets) = (shifted.logits, shifted.targets);
    let weights = shifted.mask.to_dtype(DType::F32)?.flatten_all()?;
    let tokens = weights.sum_all()?.to_scalar::<f32>()? as usize;
    if tokens == 0 {
        return Err(SftError::InvalidArgument(
            "the loss mask selects no token to train on".into(),
        ));
    }
    if recompute {
        let sum = crate::recompute::cross_entropy_sum(&pred, &targets, &weights)?;
        return Ok(MaskedLoss { sum, tokens });
    }
    masked_nll(&pred, &targets, &weights, tokens)
}

/// Logits lined up with the tokens they predict: position `t` predicts token `t + 1`.
pub struct NextToken {
    /// `(batch · (seq − 1), vocab)`: row `i·(seq − 1) + t` is sequence `i`'s position `t`.
    pub logits: Tensor,
    /// `(batch · (seq − 1),)` u32: the token each row predicts.
    pub targets: Tensor,
    /// `(batch, seq − 1)` u8: 1 where that token counts (its mask entry is non-zero).
    pub mask: Tensor,
}

/// Shifts `logits` `(batch, seq, vocab)`, `input_ids` and `mask` `(batch, seq)` (any
/// integer or float dtype) for next-token losses; the shapes must agree
/// ([`check_shapes`]).
pub fn shift_for_next_token(
    logits: &Tensor,
    input_ids: &Tensor,
    mask: &Tensor,
) -> Result<NextToken> {
    let (b, s, v) = logits.dims3()?;
    Ok(NextToken {
        logits: logits.narrow(1, 0, s - 1)?.reshape((b * (s - 1), v))?,
        targets: input_ids
            .narrow(1, 1, s - 1)?
            .to_dtype(DType::U32)?
            .flatten_all()?,
        mask: mask.narrow(1, 1, s - 1)?.to_dtype(DType::F32)?.ne(0f32)?,
    })
}

/// `sum_i w_i * -log softmax(logits_i)[target_i]` for `logits` `(n, vocab)`,
/// `targets` `(n,)` u32, `weights` `(n,)` f32.
fn masked_nll(
    logits: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
    tokens: usize,
) -> Result<MaskedLoss> {
    let logp = log_softmax_last_dim(logits)?;
    // (n, 1) -> (n,)
    let picked = logp
        .gather(&targets.unsqueeze(D::Minus1)?, D::Minus1)?
        .squeeze(D::Minus1)?;
    let sum = (picked * weights)?.sum_all()?.neg()?;
    Ok(MaskedLoss { sum, tokens })
}

/// How many trained tokens the argmax prediction gets right, and how many trained
/// tokens there are (TRL's `mean_token_accuracy` is their ratio).
pub fn token_hits(
    logits: &Tensor,
    input_ids: &Tensor,
    loss_mask: &Tensor,
) -> Result<(usize, usize)> {
    let s = logits.dim(1)?;
    if s < 2 {
        return Ok((0, 0));
    }
    // (batch, seq - 1)
    let pred = if crate::fused::fusable(&[logits]) {
        crate::fused::argmax::argmax_rows(logits)?.narrow(1, 0, s - 1)?
    } else {
        logits
            .narrow(1, 0, s - 1)?
            .argmax(D::Minus1)?
            .to_dtype(DType::U32)?
    };
    let targets = input_ids.narrow(1, 1, s - 1)?.to_dtype(DType::U32)?;
    let w = loss_mask
        .narrow(1, 1, s - 1)?
        .ne(0u32)?
        .to_dtype(DType::F32)?;
    let hit = (pred.eq(&targets)?.to_dtype(DType::F32)? * &w)?
        .sum_all()?
        .to_scalar::<f32>()?;
    let n = w.sum_all()?.to_scalar::<f32>()?;
    Ok((hit as usize, n as usize))
}
