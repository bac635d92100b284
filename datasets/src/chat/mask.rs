//! Assistant-only loss masks from token sequences of rendered prefixes.
//!
//! For each assistant message `i`, the conversation before it is rendered
//! with the generation prompt and tokenized (`before`), and the conversation
//! through it without (`through`). `before` must be a token prefix of
//! `through`, and `through` of the whole conversation; the tokens between
//! them are the assistant's turn, end-of-turn marker included, and are
//! trained. No marker strings are searched for, so a template change cannot
//! silently leave the mask empty: it fails loudly instead.

use std::collections::HashSet;

use serde_json::Map;
use tokenizers::Tokenizer;

use super::template::{ChatTemplate, TemplateError};
use crate::pack::TokenizedSample;
use crate::records::{Message, Role};

/// Mask settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskOptions {
    /// Longest sample in tokens; longer samples are cut at the end, and a
    /// sample whose first trained token lies beyond it is an error.
    /// Default: none.
    pub max_len: Option<usize>,
    /// Leave special tokens (end-of-turn, headers) out of the loss, as
    /// Llama 3's DPO did with formatting tokens. Default: false (SFT trains
    /// the end-of-turn token so the model learns to stop).
    pub mask_special_tokens: bool,
    /// The BOS id, to detect a doubled BOS. Default: none (no check).
    pub bos_id: Option<u32>,
}

/// Why a conversation could not be masked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaskError {
    /// Rendering failed or is not prefix-stable.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Tokenizing failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The tokens of the text before assistant message `index` are not a
    /// prefix of the tokens through it (BPE merged across the boundary).
    #[error(
        "the tokens before assistant message {index} are not a prefix of the tokens through it (a merge crosses the turn boundary)"
    )]
    BoundaryMerge {
        /// Index of the assistant message.
        index: usize,
    },
    /// Nothing would be trained.
    #[error("the loss mask is empty: no assistant token is trained")]
    EmptyMask,
    /// The prompt alone reaches the maximum length.
    #[error("the prompt alone is {prompt_tokens} tokens, at or over the maximum of {max_len}")]
    PromptTooLong {
        /// Tokens before the first trained token.
        prompt_tokens: usize,
        /// The limit.
        max_len: usize,
    },
    /// The sequence starts with two BOS tokens (the template renders one and
    /// the text or tokenizer adds another).
    #[error("the sequence starts with a doubled BOS token")]
    DoubledBos,
}

fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, MaskError> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| MaskError::Tokenizer(e.to_string()))
}

impl ChatTemplate {
    /// Token ids of `messages` and the assistant-only loss mask.
    pub fn assistant_mask(
        &self,
        tokenizer: &Tokenizer,
        messages: &[Message],
        opts: &MaskOptions,
    ) -> Result<TokenizedSample, MaskError> {
        let extra = Map::new();
        let mut input_ids = encode(tokenizer, &self.render_with(messages, false, &extra)?)?;
        let mut loss_mask = vec![false; input_ids.len()];
        if let Some(bos) = opts.bos_id
            && input_ids.len() >= 2
            && input_ids[0] == bos
            && input_ids[1] == bos
        {
            return Err(MaskError::DoubledBos);
        }
        let special: HashSet<u32> = if opts.mask_special_tokens {
            tokenizer
                .get_added_tokens_decoder()
                .iter()
                .filter(|(_, t)| t.special)
                .map(|(id, _)| *id)
                .collect()
        } else {
            HashSet::new()
        };
        for (i, m) in messages.iter().enumerate() {
            if m.role != Role::Assistant {
                continue;
            }
            let before = encode(tokenizer, &self.render_with(&messages[..i], true, &extra)?)?;
            let through = encode(
                tokenizer,
                &self.render_with(&messages[..=i], false, &extra)?,
            )?;
            if !through.starts_with(&before) {
                return Err(MaskError::BoundaryMerge { index: i });
            }
            if !input_ids.starts_with(&through) {
                return Err(TemplateError::NotPrefixStable { index: i + 1 }.into());
            }
            for p in before.len()..through.len() {
                loss_mask[p] = !special.contains(&input_ids[p]);
            }
        }
        let first = loss_mask
            .iter()
            .position(|&t| t)
            .ok_or(MaskError::EmptyMask)?;
        if let Some(max_len) = opts.max_len {
            if first >= max_len {
                return Err(MaskError::PromptTooLong {
                    prompt_tokens: first,
                    max_len,
                });
            }
            input_ids.truncate(max_len);
            loss_mask.truncate(max_len);
        }
        Ok(TokenizedSample {
            input_ids,
            loss_mask,
        })
    }
}

/// A sample as text with trained tokens wrapped in `⟦` `⟧`, for
/// `distill data show-mask`.
pub fn show_mask(tokenizer: &Tokenizer, sample: &TokenizedSample) -> String {
    let mut out = String::new();
    let mut start = 0;
    while start < sample.input_ids.len() {
        let trained = sample.loss_mask.get(start).copied().unwrap_or(false);
        let end = (start..sample.input_ids.len())
            .find(|&p| sample.loss_mask.get(p).copied().unwrap_or(false) != trained)
            .unwrap_or(sample.input_ids.len());
        let text = tokenizer
            .decode(&sample.input_ids[start..end], false)
            .unwrap_or_else(|e| format!("<decode error: {e}>"));
        if trained {
            out.push('⟦');
            out.push_str(&text);
            out.push('⟧');
        } else {
            out.push_str(&text);
        }
        start = end;
    }
    out
}
