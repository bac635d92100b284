//! Tokenized training examples and their collation into padded batches. Tokenizing,
//! chat templates and packing belong to the `datasets` crate; this takes its output.

use crate::error::{Result, SftError};
use candle_core::{Device, Tensor};

/// One tokenized sequence (possibly several packed samples).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Token ids.
    pub input_ids: Vec<u32>,
    /// 1 for tokens to learn (e.g. the assistant's reply), 0 elsewhere; same length.
    pub loss_mask: Vec<u8>,
    /// Per-token positions restarting at 0 for each packed sample; `None` = `0..len`.
    pub position_ids: Option<Vec<u32>>,
}

impl Example {
    /// From Hugging Face-style unshifted labels (the token id where trained, -100
    /// elsewhere), as the `datasets` crate's packed rows and padded batches carry them.
    /// A label that is neither -100 nor the token at its position is an error.
    pub fn from_labels(
        input_ids: Vec<u32>,
        labels: &[i64],
        position_ids: Option<Vec<u32>>,
    ) -> Result<Self> {
        if labels.len() != input_ids.len() {
            return Err(SftError::InvalidArgument(format!(
                "{} labels for {} tokens",
                labels.len(),
                input_ids.len()
            )));
        }
        let mut loss_mask = Vec::with_capacity(labels.len());
        for (t, (&l, &id)) in labels.iter().zip(&input_ids).enumerate() {
            match l {
                -100 => loss_mask.push(0),
                l if l == i64::from(id) => loss_mask.push(1),
                l => {
                    return Err(SftError::InvalidArgument(format!(
                        "label {l} at position {t} is neither -100 nor the token {id}"
                    )));
                }
            }
        }
        Ok(Example {
            input_ids,
            loss_mask,
            position_ids,
        })
    }

    /// Tokens this example trains on (the first token is never predicted).
    pub fn trained_tokens(&self) -> usize {
        self.loss_mask.iter().skip(1).filter(|&&m| m != 0).count()
    }

    /// Checks lengths agree and that something is trained on.
    pub fn validate(&self, index: usize) -> Result<()> {
        let n = self.input_ids.len();
        if n < 2 || self.loss_mask.len() != n {
            return Err(SftError::InvalidArgument(format!(
                "example {index}: {} tokens with a loss mask of {}",
                n,
                self.loss_mask.len()
            )));
        }
        if let Some(p) = &self.position_ids
            && p.len() != n
        {
            return Err(SftError::InvalidArgument(format!(
                "example {index}: {n} tokens with {} position ids",
                p.len()
            )));
        }
        if self.trained_tokens() == 0 {
            return Err(SftError::InvalidArgument(format!(
                "example {index}: the loss mask selects no token"
            )));
        }
        Ok(())
    }
}

/// A right-padded batch, every tensor `(batch, seq)` u32.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Token ids (padding: `pad_id`).
    pub input_ids: Tensor,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// Position ids (packed samples restart at 0; padding continues counting).
    pub position_ids: Tensor,
    /// Loss mask (0 on padding).
    pub loss_mask: Tensor,
    /// Trained tokens in the batch.
    pub tokens: usize,
}

/// Pads `examples` to the longest and stacks them.
pub fn collate(examples: &[&Example], pad_id: u32, device: &Device) -> Result<Batch> {
    let seq = examples
        .iter()
        .map(|e| e.input_ids.len())
        .max()
        .ok_or_else(|| SftError::InvalidArgument("empty batch".into()))?;
    let b = examples.len();
    let mut ids = Vec::with_capacity(b * seq);
    let mut attn = Vec::with_capacity(b * seq);
    let mut pos = Vec::with_capacity(b * seq);
    let mut mask = Vec::with_capacity(b * seq);
    let mut tokens = 0;
    for e in examples {
        let n = e.input_ids.len();
        tokens += e.trained_tokens();
        ids.extend_from_slice(&e.input_ids);
        ids.extend(std::iter::repeat_n(pad_id, seq - n));
        attn.extend(std::iter::repeat_n(1u32, n));
        attn.extend(std::iter::repeat_n(0u32, seq - n));
        let last = match &e.position_ids {
            Some(p) => {
                pos.extend_from_slice(p);
                p.last().copied().unwrap_or(0)
            }
            None => {
                pos.extend(0..n as u32);
                (n as u32).saturating_sub(1)
            }
        };
        pos.extend((1..=(seq - n) as u32).map(|k| last + k));
        mask.extend(e.loss_mask.iter().map(|&m| u32::from(m != 0)));
        mask.extend(std::iter::repeat_n(0u32, seq - n));
    }
    let t = |v: Vec<u32>| Tensor::from_vec(v, (b, seq), device);
    Ok(Batch {
        input_ids: t(ids)?,
        attention_mask: t(attn)?,
        position_ids: t(pos)?,
        loss_mask: t(mask)?,
        tokens,
    })
}
