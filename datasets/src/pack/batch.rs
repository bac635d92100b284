//! Padded batching with length bucketing: samples of similar length are
//! batched together so little of each batch is padding.

use super::rows::{IGNORE_INDEX, TokenizedSample};
use crate::rng::SplitMix64;

/// Bucketing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketOptions {
    /// Most samples per batch. Default: 8.
    pub batch_size: usize,
    /// Most padded tokens per batch (`samples × longest`), if set; a sample
    /// longer than this still gets a batch of its own. Default: none.
    pub max_tokens: Option<usize>,
    /// Shuffle the order of batches (not their content) with this seed.
    /// Default: none (shortest batches first).
    pub shuffle_seed: Option<u64>,
}

impl Default for BucketOptions {
    fn default() -> Self {
        Self {
            batch_size: 8,
            max_tokens: None,
            shuffle_seed: None,
        }
    }
}

/// Groups sample indices into batches of similar length: sort by length
/// (ties by index), then cut consecutive runs within the limits.
pub fn bucket_batches(lengths: &[usize], opts: BucketOptions) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    let batch_size = opts.batch_size.max(1);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted ascending, so sample i is the longest in the batch if added.
        let padded = (current.len() + 1) * lengths[i];
        let over_tokens = opts.max_tokens.is_some_and(|m| padded > m);
        if !current.is_empty() && (current.len() == batch_size || over_tokens) {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    if let Some(seed) = opts.shuffle_seed {
        let mut rng = SplitMix64::new(seed);
        for i in (1..batches.len()).rev() {
            let j = rng.below(i + 1);
            batches.swap(i, j);
        }
    }
    batches
}

/// Which side padding goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PadSide {
    /// Pad after the tokens (training). Default.
    #[default]
    Right,
    /// Pad before the tokens (batched generation).
    Left,
}

/// A padded batch, row-major with shape `(batch, seq_len)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaddedBatch {
    /// Number of rows.
    pub batch: usize,
    /// Length of every row (the longest sample).
    pub seq_len: usize,
    /// Token ids, `pad_id` on padding.
    pub input_ids: Vec<u32>,
    /// 1 on real tokens, 0 on padding.
    pub attention_mask: Vec<u8>,
    /// Position ids (0-based from each sample's first real token; 0 on padding).
    pub position_ids: Vec<u32>,
    /// Token id where trained, [`IGNORE_INDEX`] elsewhere (unshifted).
    pub labels: Vec<i64>,
}

/// Pads samples to the longest one.
pub fn pad_batch(samples: &[&TokenizedSample], pad_id: u32, side: PadSide) -> PaddedBatch {
    let seq_len = samples.iter().map(|s| s.input_ids.len()).max().unwrap_or(0);
    let n = samples.len() * seq_len;
    let mut b = PaddedBatch {
        batch: samples.len(),
        seq_len,
        input_ids: vec![pad_id; n],
        attention_mask: vec![0; n],
        position_ids: vec![0; n],
        labels: vec![IGNORE_INDEX; n],
    };
    for (r, s) in samples.iter().enumerate() {
        let len = s.input_ids.len();
        let start = r * seq_len
            + match side {
                PadSide::Right => 0,
                PadSide::Left => seq_len - len,
            };
        for (j, &id) in s.input_ids.iter().enumerate() {
            b.input_ids[start + j] = id;
            b.attention_mask[start + j] = 1;
            b.position_ids[start + j] = j as u32;
            if s.loss_mask.get(j).copied().unwrap_or(false) {
                b.labels[start + j] = i64::from(id);
            }
        }
    }
    b
}
