//! Text generation with one loaded model: prompt ids or chat messages in, text out,
//! with end-of-sequence ids, stop strings, a token budget and timings. A
//! [`Generator`] is immutable and `Send + Sync`: every call owns its KV cache, so
//! threads may generate concurrently from one instance.

use super::model::{InferenceModel, last_row};
use super::sampling::{Sampler, SamplingConfig};
use crate::error::{Result, SftError};
use crate::prepare::ChatTokenizer;
use datasets::records::Message;
use std::time::Instant;

/// Settings of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateParams {
    /// Most tokens to generate. Default 512.
    pub max_new_tokens: usize,
    /// How tokens are chosen. Default greedy.
    pub sampling: SamplingConfig,
    /// Stop strings: generation ends when the decoded completion contains one, and
    /// the text is cut before it. Default none.
    pub stop: Vec<String>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_new_tokens: 512,
            sampling: SamplingConfig::default(),
            stop: Vec::new(),
        }
    }
}

/// Why generation ended (named as in the OpenAI API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-sequence token or a stop string.
    Stop,
    /// The token budget (or the model's context) ran out.
    Length,
}

impl FinishReason {
    /// `"stop"` or `"length"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The completion text (special tokens skipped, cut before a stop string).
    pub text: String,
    /// The generated token ids (without the end-of-sequence token).
    pub token_ids: Vec<u32>,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated (the end-of-sequence token included when one ended it).
    pub completion_tokens: usize,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Seconds spent on the prompt (its forward pass and the first token).
    pub prefill_seconds: f64,
    /// Seconds spent on the following tokens.
    pub decode_seconds: f64,
    /// Tokens generated after the first, per decode second (0 when none).
    pub tokens_per_second: f64,
}

/// A model with its tokenizer, chat template and end-of-sequence ids.
pub struct Generator {
    /// The model.
    pub model: InferenceModel,
    /// The tokenizer and chat template.
    pub tokenizer: ChatTokenizer,
    /// Ids that end a generation.
    pub eos_ids: Vec<u32>,
    /// A display name (the file or directory name).
    pub name: String,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("name", &self.name)
            .field("eos_ids", &self.eos_ids)
            .field("quantized", &self.model.is_quantized())
            .finish_non_exhaustive()
    }
}

/// End-of-turn tokens of common chat formats, used as end-of-sequence ids when the
/// tokenizer has them as added (special) tokens; a plain vocabulary entry with the
/// same text (`</s>` inside Qwen2's BPE vocabulary) is ordinary text.
pub const END_TOKENS: [&str; 6] = [
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "</s>",
];

impl Generator {
    /// A generator from its parts; the end-of-sequence ids are the tokenizer's EOS
    /// plus those of [`END_TOKENS`] among its added tokens, plus `extra_eos`.
    pub fn new(
        model: InferenceModel,
        tokenizer: ChatTokenizer,
        extra_eos: &[u32],
        name: impl Into<String>,
    ) -> Self {
        let mut eos_ids: Vec<u32> = tokenizer.eos_id.into_iter().collect();
        let added = tokenizer.tokenizer.get_added_tokens_decoder();
        eos_ids.extend(
            added
                .iter()
                .filter(|(_, t)| END_TOKENS.contains(&t.content.as_str()))
                .map(|(id, _)| *id),
        );
        eos_ids.extend_from_slice(extra_eos);
        eos_ids.sort_unstable();
        eos_ids.dedup();
        Generator {
            model,
            tokenizer,
            eos_ids,
            name: name.into(),
        }
    }

    /// The chat template rendering of `messages` with the assistant header appended.
    pub fn render_chat(&self, messages: &[Message]) -> Result<String> {
        self.tokenizer
            .template
            .render(messages, true)
            .map_err(|e| SftError::InvalidArgument(format!("chat template: {e}")))
    }

    /// Token ids of `text` (special-token text such as `<|im_start|>` becomes the
    /// special token; no BOS is added beyond what the text holds).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .tokenizer
            .encode(text, false)
            .map_err(|e| SftError::InvalidArgument(format!("tokenizer: {e}")))?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .tokenizer
            .decode(ids, true)
            .map_err(|e| SftError::InvalidArgument(format!("tokenizer: {e}")))
    }

    /// Answers a conversation: the model's chat template with the generation prompt,
    /// then [`Generator::generate`].
    pub fn chat(&self, messages: &[Message], params: &GenerateParams) -> Result<Generation> {
        let prompt = self.render_chat(messages)?;
        self.generate_text(&prompt, params)
    }

    /// Continues `prompt` (raw text, special-token text recognized).
    pub fn generate_text(&self, prompt: &str, params: &GenerateParams) -> Result<Generation> {
        let ids = self.encode(prompt)?;
        self.generate(&ids, params)
    }

    /// Continues the prompt `ids`.
    pub fn generate(&self, ids: &[u32], params: &GenerateParams) -> Result<Generation> {
        if ids.is_empty() {
            return Err(SftError::InvalidArgument("the prompt is empty".into()));
        }
        let mut sampler = Sampler::new(params.sampling.clone())?;
        let context = self.model.config().max_position_embeddings.max(ids.len());
        let budget = params.max_new_tokens.min(context - ids.len());
        let mut cache = self.model.new_cache(ids.len() + budget)?;
        let mut out: Vec<u32> = Vec::new();
        let mut text = String::new();
        let mut finish = FinishReason::Length;
        let mut completion_tokens = 0;
        let longest_stop = params.stop.iter().map(String::len).max().unwrap_or(0);
        let started = Instant::now();
        let mut prefill_seconds = 0.0;
        let mut next_input: Vec<u32> = ids.to_vec();
        let mut scanned = 0;
        while completion_tokens < budget {
            let logits = self.model.forward(&next_input, &mut cache, false)?;
            let token = sampler.sample(&last_row(&logits)?)?;
            if completion_tokens == 0 {
                prefill_seconds = started.elapsed().as_secs_f64();
            }
            completion_tokens += 1;
            if self.eos_ids.contains(&token) {
                finish = FinishReason::Stop;
                break;
            }
            out.push(token);
            if longest_stop > 0 {
                text = self.decode(&out)?;
                if let Some(cut) = find_stop(&text, &params.stop, scanned) {
                    text.truncate(cut);
                    finish = FinishReason::Stop;
                    break;
                }
                // A stop string that ends later starts at most this far back.
                scanned = floor_char_boundary(&text, text.len().saturating_sub(longest_stop));
            }
            next_input = vec![token];
        }
        let total = started.elapsed().as_secs_f64();
        if longest_stop == 0 || finish == FinishReason::Length {
            text = self.decode(&out)?;
            if let Some(cut) = find_stop(&text, &params.stop, 0) {
                text.truncate(cut);
            }
        }
        let decode_seconds = (total - prefill_seconds).max(0.0);
        let decoded = completion_tokens.saturating_sub(1);
        Ok(Generation {
            text,
            token_ids: out,
            prompt_tokens: ids.len(),
            completion_tokens,
            finish_reason: finish,
            prefill_seconds,
            decode_seconds,
            tokens_per_second: if decoded > 0 && decode_seconds > 0.0 {
                decoded as f64 / decode_seconds
            } else {
                0.0
            },
        })
    }
}

/// The byte offset of the earliest stop string in `text` starting at or after `from`.
fn find_stop(text: &str, stops: &[String], from: usize) -> Option<usize> {
    let tail = text.get(from..)?;
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| tail.find(s.as_str()))
        .min()
        .map(|i| from + i)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}
