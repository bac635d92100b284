//! The additive attention bias: causal, padding, and block-diagonal for packed rows
//! (a new sample starts wherever its position id is 0).

use crate::error::{Result, SftError};
use candle_core::{DType, Device, Tensor};

/// Added to the scores of masked keys. Large enough that `exp` underflows to zero,
/// finite so a fully masked row gives a uniform softmax instead of NaN.
pub const MASKED: f32 = -1e30;

/// Default position ids `0..seq` for each row, `(batch, seq)` u32.
pub fn default_positions(batch: usize, seq: usize, device: &Device) -> Result<Tensor> {
    let row = Tensor::arange(0u32, seq as u32, device)?;
    Ok(row.unsqueeze(0)?.broadcast_as((batch, seq))?.contiguous()?)
}

/// The bias `(batch, 1, seq, seq)` f32: 0 where query `i` may attend key `j`
/// (`j <= i`, key `j` not padding, same packed sample), [`MASKED`] elsewhere.
///
/// `attention_mask` is `(batch, seq)` with 1 for real tokens and 0 for padding;
/// `position_ids` is `(batch, seq)`; a position id of 0 after the first token
/// starts a new packed sample.
pub fn attention_bias(
    attention_mask: Option<&Tensor>,
    position_ids: &Tensor,
    device: &Device,
) -> Result<Tensor> {
    let (batch, seq) = position_ids.dims2()?;
    let pos = position_ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    let keep = match attention_mask {
        Some(m) => {
            if m.dims() != [batch, seq] {
                return Err(SftError::InvalidArgument(format!(
                    "attention_mask shape {:?} differs from position_ids shape {:?}",
                    m.dims(),
                    [batch, seq]
                )));
            }
            m.to_dtype(DType::U32)?.to_vec2::<u32>()?
        }
        None => vec![vec![1u32; seq]; batch],
    };
    let mut bias = vec![MASKED; batch * seq * seq];
    for b in 0..batch {
        // segment id of each token: increments at each position id 0 after the first
        let mut seg = vec![0usize; seq];
        for t in 1..seq {
            seg[t] = seg[t - 1] + usize::from(pos[b][t] == 0);
        }
        for i in 0..seq {
            for j in 0..=i {
                if keep[b][j] != 0 && seg[i] == seg[j] {
                    bias[(b * seq + i) * seq + j] = 0.0;
                }
            }
        }
    }
    Ok(Tensor::from_vec(bias, (batch, 1, seq, seq), device)?)
}
