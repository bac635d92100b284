//! Materializing packed rows: token ids, restarting position ids, labels and
//! the mask descriptor.

use super::bfd::{PackError, Packing, pack_best_fit};
use super::mask::MaskDescriptor;

/// Label value ignored by the loss (PyTorch's and HF's convention).
pub const IGNORE_INDEX: i64 = -100;

/// A tokenized sample: ids and which positions are trained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedSample {
    /// Token ids.
    pub input_ids: Vec<u32>,
    /// `true` where the token is a training target (same length as `input_ids`).
    pub loss_mask: Vec<bool>,
}

/// One packed training row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedRow {
    /// Token ids, padded with the pad id to the row length.
    pub input_ids: Vec<u32>,
    /// Position within its own sample (restarts at 0 per sample; 0 on padding).
    pub position_ids: Vec<u32>,
    /// HF-style unshifted labels: the token id where trained, [`IGNORE_INDEX`]
    /// elsewhere. The first token of every sample is always ignored, so the
    /// shifted loss never predicts one sample's first token from the previous
    /// sample (an unpacked sample never trains its first token either).
    pub labels: Vec<i64>,
    /// Which sample (index into the input) each segment holds, in order.
    pub samples: Vec<usize>,
    /// Sample boundaries for the block-diagonal causal mask.
    pub mask: MaskDescriptor,
}

/// Packs `samples` into rows of `row_len` (best-fit decreasing) and builds
/// each row; padding uses `pad_id`.
pub fn build_rows(
    samples: &[TokenizedSample],
    row_len: usize,
    pad_id: u32,
) -> Result<(Packing, Vec<PackedRow>), PackError> {
    for (i, s) in samples.iter().enumerate() {
        if s.input_ids.len() != s.loss_mask.len() {
            return Err(PackError::MaskLength {
                sample: i,
                ids: s.input_ids.len(),
                mask: s.loss_mask.len(),
            });
        }
    }
    let lengths: Vec<usize> = samples.iter().map(|s| s.input_ids.len()).collect();
    let packing = pack_best_fit(&lengths, row_len)?;
    let rows = packing
        .rows
        .iter()
        .map(|row| {
            let mut out = PackedRow {
                input_ids: vec![pad_id; row_len],
                position_ids: vec![0; row_len],
                labels: vec![IGNORE_INDEX; row_len],
                samples: Vec::with_capacity(row.segments.len()),
                mask: MaskDescriptor {
                    row_len,
                    boundaries: vec![0],
                },
            };
            for seg in &row.segments {
                let s = &samples[seg.sample];
                for (j, (&id, &train)) in s.input_ids.iter().zip(&s.loss_mask).enumerate() {
                    let p = seg.offset + j;
                    out.input_ids[p] = id;
                    out.position_ids[p] = j as u32;
                    if train && j > 0 {
                        out.labels[p] = i64::from(id);
                    }
                }
                out.samples.push(seg.sample);
                out.mask.boundaries.push(seg.offset + seg.len);
            }
            out
        })
        .collect();
    Ok((packing, rows))
}
