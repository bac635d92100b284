//! Preference data on disk → tokenized pairs.
//!
//! Reads TRL's preference shapes (conversational or standard, explicit or implicit
//! prompt) and ours (`dpo.v1`) through the `datasets` crate, then tokenizes each pair
//! as TRL's `DPOTrainer` does: the prompt is rendered with the model's chat template
//! and the generation prompt (`<|im_start|>assistant\n` for ChatML), each completion
//! is the rest of the rendered `prompt + completion` text, and prompt and completions
//! are tokenized separately, so chosen and rejected share their prompt tokens exactly.
//! Standard (plain-text) pairs are used as written, with the EOS token appended to
//! each completion (TRL does the same).
//!
//! Only completion tokens count in the summed log-probabilities. With
//! `mask_format_tokens` (Llama 3's DPO recipe), formatting tokens are excluded too:
//! special tokens (`<|im_end|>`, `<|eot_id|>`, role headers) and any token lying wholly
//! outside the messages' own content (the newline a template writes after the
//! end-of-turn marker, the header of a second assistant turn).
//!
//! # Truncation
//! A sequence is `prompt + completion` and holds at most `max_len` tokens.
//! [`Truncation::KeepEnd`] (the default, TRL's `truncation_mode="keep_end"`): a prompt
//! longer than `max_prompt_len` keeps its **last** `max_prompt_len` tokens, then a
//! completion that does not fit keeps its **first** `max_len - prompt` tokens; both
//! are counted in [`PrepareReport`]. A pair left with no counted completion token is a
//! bad pair. [`Truncation::Reject`]: any pair that does not fit is a bad pair.
//!
//! # Bad pairs
//! Reported as `file:line: field: reason` — chosen equal to rejected, an empty
//! completion, a prompt that differs between chosen and rejected (implicit-prompt
//! form), a pair too long for `max_len`, besides JSON and shape errors. Strict mode
//! stops at the first; lenient mode skips and counts them and keeps every good pair.

use crate::error::{DpoError, Result};
use datasets::jsonl::{JsonlReader, ReadOptions};
use datasets::records::{DpoExample, DpoRecord, Message, Role};
use datasets::split::{Side, SplitConfig, dpo_group, side_of};
use datasets::{BadRecord, FieldError};
use serde::{Deserialize, Serialize};
use sft::Example;
use sft::prepare::ChatTokenizer;
use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

/// What happens to a pair longer than `max_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Truncation {
    /// Keep the end of a long prompt and the start of a long completion (TRL's
    /// `keep_end`). The default.
    #[default]
    KeepEnd,
    /// A pair that does not fit is a bad pair.
    Reject,
}

/// How to read, tokenize and split a preference file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairOptions {
    /// Most tokens in `prompt + completion`. Default 1024.
    pub max_len: usize,
    /// Most prompt tokens kept by [`Truncation::KeepEnd`]; `None` = `max_len / 2`
    /// (TRL's defaults are 512 of 1024). Default `None`.
    pub max_prompt_len: Option<usize>,
    /// The truncation policy. Default [`Truncation::KeepEnd`].
    pub truncation: Truncation,
    /// Leave formatting tokens out of the summed log-probabilities (Llama 3). Default
    /// false.
    pub mask_format_tokens: bool,
    /// Skip and count bad pairs instead of stopping at the first. Default false.
    pub lenient: bool,
    /// Expected fraction of problems held out for eval metrics. Default 0.05.
    pub eval_fraction: f64,
    /// Seed of the split. Default 0.
    pub seed: u64,
}

impl Default for PairOptions {
    fn default() -> Self {
        PairOptions {
            max_len: 1024,
            max_prompt_len: None,
            truncation: Truncation::KeepEnd,
            mask_format_tokens: false,
            lenient: false,
            eval_fraction: 0.05,
            seed: 0,
        }
    }
}

impl PairOptions {
    /// The prompt budget: `max_prompt_len`, or half of `max_len`.
    pub fn prompt_budget(&self) -> usize {
        self.max_prompt_len.unwrap_or(self.max_len / 2)
    }

    /// Rejects settings that cannot produce a pair.
    pub fn validate(&self) -> Result<()> {
        if self.max_len < 4 {
            return Err(DpoError::InvalidConfig(format!(
                "max-len {} must be at least 4",
                self.max_len
            )));
        }
        let p = self.prompt_budget();
        if p == 0 || p >= self.max_len {
            return Err(DpoError::InvalidConfig(format!(
                "max-prompt-len {p} must be in [1, max-len {})",
                self.max_len
            )));
        }
        if !(0.0..1.0).contains(&self.eval_fraction) {
            return Err(DpoError::InvalidConfig(format!(
                "eval-fraction {} must be in [0, 1)",
                self.eval_fraction
            )));
        }
        Ok(())
    }
}

/// One tokenized preference pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizedPair {
    /// 1-based line of the pair in its file.
    pub line: u64,
    /// Prompt tokens (after truncation).
    pub prompt_ids: Vec<u32>,
    /// Chosen completion tokens.
    pub chosen_ids: Vec<u32>,
    /// 1 where a chosen token counts in the summed log-probability.
    pub chosen_mask: Vec<u8>,
    /// Rejected completion tokens.
    pub rejected_ids: Vec<u32>,
    /// 1 where a rejected token counts.
    pub rejected_mask: Vec<u8>,
}

impl TokenizedPair {
    fn example(&self, ids: &[u32], mask: &[u8]) -> Example {
        let mut input_ids = self.prompt_ids.clone();
        input_ids.extend_from_slice(ids);
        let mut loss_mask = vec![0u8; self.prompt_ids.len()];
        loss_mask.extend_from_slice(mask);
        Example {
            input_ids,
            loss_mask,
            position_ids: None,
        }
    }

    /// `prompt + chosen` with its completion mask.
    pub fn chosen(&self) -> Example {
        self.example(&self.chosen_ids, &self.chosen_mask)
    }

    /// `prompt + rejected` with its completion mask.
    pub fn rejected(&self) -> Example {
        self.example(&self.rejected_ids, &self.rejected_mask)
    }

    /// Counted chosen tokens.
    pub fn chosen_tokens(&self) -> usize {
        self.chosen_mask.iter().filter(|&&m| m != 0).count()
    }

    /// Counted rejected tokens.
    pub fn rejected_tokens(&self) -> usize {
        self.rejected_mask.iter().filter(|&&m| m != 0).count()
    }
}

/// Counts of what preparing a file did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareReport {
    /// Prompts cut to their last `max_prompt_len` tokens.
    pub prompts_truncated: usize,
    /// Completions (chosen or rejected) cut at their end.
    pub completions_truncated: usize,
}

/// A preference file as training and held-out pairs.
#[derive(Debug, Clone, Default)]
pub struct PreparedPairs {
    /// Training pairs, in file order.
    pub train: Vec<TokenizedPair>,
    /// Held-out pairs, in file order.
    pub eval: Vec<TokenizedPair>,
    /// Bad pairs skipped (lenient mode; strict mode stops at the first).
    pub skipped: Vec<BadRecord>,
    /// Truncation counts.
    pub report: PrepareReport,
}

/// A pair as prompt and completions, before tokenizing.
enum Texts {
    /// Messages, rendered with the chat template.
    Chat(Box<DpoRecord>),
    /// Plain text used as written.
    Plain {
        prompt: String,
        chosen: String,
        rejected: String,
    },
}

/// Longest common prefix of two strings, backed off to a char boundary and, as TRL's
/// `extract_prompt`, to before a trailing space.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a
        .char_indices()
        .zip(b.chars())
        .take_while(|((_, x), y)| x == y)
        .last()
        .map_or(0, |((i, c), _)| i + c.len_utf8());
    if n > 0 && n < a.len() && a[..n].ends_with(' ') {
        n -= 1;
    }
    n
}

fn identical() -> FieldError {
    FieldError::new(
        "rejected",
        "identical to `chosen`: the pair carries no preference",
    )
}

fn empty(field: &str, m: &[Message]) -> Option<FieldError> {
    let i = m.iter().position(|m| m.content.trim().is_empty())?;
    Some(FieldError::new(
        format!("{field}[{i}].content"),
        "empty completion (nothing to compare)",
    ))
}

/// The prompt and completions of one example, with the semantic checks of a pair.
fn texts(example: &DpoExample) -> std::result::Result<(Texts, String), FieldError> {
    let t = match example {
        DpoExample::ImplicitConversational { chosen, rejected } => {
            let Some(r) = example.to_dpo_record() else {
                return Err(FieldError::new("<record>", "not a conversational pair"));
            };
            if chosen == rejected {
                return Err(identical());
            }
            let prompt_ok = r.prompt.last().is_some_and(|m| m.role == Role::User);
            let completions_ok = r
                .chosen
                .iter()
                .chain(&r.rejected)
                .all(|m| m.role == Role::Assistant)
                && !r.chosen.is_empty()
                && !r.rejected.is_empty();
            if !prompt_ok || !completions_ok {
                return Err(FieldError::new(
                    "rejected",
                    format!(
                        "mismatched prompt: chosen and rejected share {} leading message(s), which must end with the user turn both answer",
                        r.prompt.len()
                    ),
                ));
            }
            Texts::Chat(Box::new(r))
        }
        DpoExample::Distill(_) | DpoExample::Conversational { .. } => match example.to_dpo_record()
        {
            Some(r) => Texts::Chat(Box::new(r)),
            None => return Err(FieldError::new("<record>", "not a conversational pair")),
        },
        DpoExample::Standard {
            prompt,
            chosen,
            rejected,
        } => Texts::Plain {
            prompt: prompt.clone(),
            chosen: chosen.clone(),
            rejected: rejected.clone(),
        },
        DpoExample::ImplicitStandard { chosen, rejected } => {
            let n = common_prefix(chosen, rejected);
            if n == 0 && chosen != rejected {
                return Err(FieldError::new(
                    "rejected",
                    "mismatched prompt: chosen and rejected share no leading text",
                ));
            }
            Texts::Plain {
                prompt: chosen[..n].to_string(),
                chosen: chosen[n..].to_string(),
                rejected: rejected[n..].to_string(),
            }
        }
    };
    let group = match &t {
        Texts::Chat(r) => {
            if r.chosen == r.rejected {
                return Err(identical());
            }
            if let Some(e) = empty("chosen", &r.chosen) {
                return Err(e);
            }
            if let Some(e) = empty("rejected", &r.rejected) {
                return Err(e);
            }
            dpo_group(r)
        }
        Texts::Plain {
            prompt,
            chosen,
            rejected,
        } => {
            if chosen == rejected {
                return Err(identical());
            }
            for (field, text) in [("chosen", chosen), ("rejected", rejected)] {
                if text.trim().is_empty() {
                    return Err(FieldError::new(
                        field,
                        "empty completion (nothing to compare)",
                    ));
                }
            }
            format!("user:{prompt}")
        }
    };
    Ok((t, group))
}

/// Byte ranges of `contents` in `text`, found in order (a template that trims a
/// message's content is matched by the trimmed text).
fn content_spans(text: &str, contents: &[&str]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut at = 0;
    for c in contents {
        for needle in [*c, c.trim()] {
            if needle.is_empty() {
                continue;
            }
            if let Some(p) = text[at..].find(needle) {
                spans.push(at + p..at + p + needle.len());
                at += p + needle.len();
                break;
            }
        }
    }
    spans
}

impl PairEncoder<'_> {
    fn encode_text(
        &self,
        text: &str,
    ) -> std::result::Result<(Vec<u32>, Vec<Range<usize>>), String> {
        let enc = self
            .tok
            .tokenizer
            .encode(text, false)
            .map_err(|e| e.to_string())?;
        let offsets = enc.get_offsets().iter().map(|&(a, b)| a..b).collect();
        Ok((enc.get_ids().to_vec(), offsets))
    }

    /// Completion tokens and their mask: with `mask_format_tokens`, a token counts
    /// only if it is not special and overlaps a message's content.
    fn completion(
        &self,
        field: &str,
        text: &str,
        contents: &[&str],
    ) -> std::result::Result<(Vec<u32>, Vec<u8>), FieldError> {
        let (mut ids, offsets) = self
            .encode_text(text)
            .map_err(|e| FieldError::new(field, format!("tokenizer: {e}")))?;
        let mut mask: Vec<u8> = if self.opts.mask_format_tokens {
            let spans = content_spans(text, contents);
            ids.iter()
                .zip(&offsets)
                .map(|(id, o)| {
                    let inside = spans.iter().any(|s| o.start < s.end && s.start < o.end);
                    u8::from(inside && !self.special.contains(id))
                })
                .collect()
        } else {
            vec![1; ids.len()]
        };
        if let Some(eos) = self.append_eos {
            ids.push(eos);
            mask.push(u8::from(!self.opts.mask_format_tokens));
        }
        Ok((ids, mask))
    }

    /// Tokenizes one checked pair, applying the truncation policy.
    fn encode(
        &self,
        t: &Texts,
        line: u64,
        report: &mut PrepareReport,
    ) -> std::result::Result<TokenizedPair, FieldError> {
        let render = |m: &[Message], gen_prompt: bool, field: &str| {
            self.tok
                .template
                .render(m, gen_prompt)
                .map_err(|e| FieldError::new(field, format!("chat template: {e}")))
        };
        let (prompt_text, chosen, rejected) = match t {
            Texts::Chat(r) => {
                let prompt_text = render(&r.prompt, true, "prompt")?;
                let mut parts = Vec::new();
                for (field, completion) in [("chosen", &r.chosen), ("rejected", &r.rejected)] {
                    let mut all = r.prompt.clone();
                    all.extend(completion.iter().cloned());
                    let full = render(&all, false, field)?;
                    let Some(rest) = full.strip_prefix(&prompt_text) else {
                        return Err(FieldError::new(
                            field,
                            "the chat template does not render the prompt as a prefix of prompt + completion",
                        ));
                    };
                    let contents: Vec<&str> =
                        completion.iter().map(|m| m.content.as_str()).collect();
                    parts.push(self.completion(field, rest, &contents)?);
                }
                let rejected = parts.pop();
                let chosen = parts.pop();
                match (chosen, rejected) {
                    (Some(c), Some(r)) => (prompt_text, c, r),
                    _ => return Err(FieldError::new("<record>", "internal: missing completion")),
                }
            }
            Texts::Plain {
                prompt,
                chosen,
                rejected,
            } => (
                prompt.clone(),
                self.completion("chosen", chosen, &[chosen.as_str()])?,
                self.completion("rejected", rejected, &[rejected.as_str()])?,
            ),
        };
        let (mut prompt_ids, _) = self
            .encode_text(&prompt_text)
            .map_err(|e| FieldError::new("prompt", format!("tokenizer: {e}")))?;
        let max_len = self.opts.max_len;
        let budget = self.opts.prompt_budget();
        let reject = self.opts.truncation == Truncation::Reject;
        if prompt_ids.len() > budget {
            if reject {
                return Err(FieldError::new(
                    "prompt",
                    format!(
                        "too long: {} tokens, over max-prompt-len {budget}",
                        prompt_ids.len()
                    ),
                ));
            }
            prompt_ids.drain(..prompt_ids.len() - budget);
            report.prompts_truncated += 1;
        }
        let room = max_len - prompt_ids.len();
        let mut fit = |field: &str, (mut ids, mut mask): (Vec<u32>, Vec<u8>)| {
            if ids.len() > room {
                if reject {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "too long: prompt {} + completion {} tokens, over max-len {max_len}",
                            prompt_ids.len(),
                            ids.len()
                        ),
                    ));
                }
                ids.truncate(room);
                mask.truncate(room);
                report.completions_truncated += 1;
            }
            if !mask.contains(&1) {
                return Err(FieldError::new(
                    field,
                    format!("too long: no completion token is left within max-len {max_len}"),
                ));
            }
            Ok((ids, mask))
        };
        let (chosen_ids, chosen_mask) = fit("chosen", chosen)?;
        let (rejected_ids, rejected_mask) = fit("rejected", rejected)?;
        if prompt_ids.is_empty() {
            return Err(FieldError::new(
                "prompt",
                "empty prompt: the first completion token would never be predicted",
            ));
        }
        Ok(TokenizedPair {
            line,
            prompt_ids,
            chosen_ids,
            chosen_mask,
            rejected_ids,
            rejected_mask,
        })
    }
}

/// Tokenizes pairs with a model's tokenizer and chat template.
pub struct PairEncoder<'a> {
    tok: &'a ChatTokenizer,
    opts: &'a PairOptions,
    special: HashSet<u32>,
    append_eos: Option<u32>,
}

impl<'a> PairEncoder<'a> {
    fn new(tok: &'a ChatTokenizer, opts: &'a PairOptions, plain: bool) -> Self {
        let special = tok
            .tokenizer
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        PairEncoder {
            tok,
            opts,
            special,
            append_eos: if plain { tok.eos_id } else { None },
        }
    }
}

/// Tokenizes one parsed example (checks included), as [`prepare_pairs`] does for each
/// line; returns the pair and its split group.
pub fn encode_example(
    tok: &ChatTokenizer,
    opts: &PairOptions,
    example: &DpoExample,
    line: u64,
    report: &mut PrepareReport,
) -> std::result::Result<(TokenizedPair, String), FieldError> {
    let (t, group) = texts(example)?;
    let plain = matches!(t, Texts::Plain { .. });
    let pair = PairEncoder::new(tok, opts, plain).encode(&t, line, report)?;
    Ok((pair, group))
}

/// Reads `path` (JSONL, plain or gzip), checks and tokenizes every pair, and splits
/// them by problem into training and held-out pairs.
pub fn prepare_pairs(
    path: &Path,
    tok: &ChatTokenizer,
    opts: &PairOptions,
) -> Result<PreparedPairs> {
    opts.validate()?;
    let read_opts = if opts.lenient {
        ReadOptions::lenient()
    } else {
        ReadOptions::default()
    };
    let mut reader = JsonlReader::<DpoExample>::open(path, read_opts)?;
    let file = path.display().to_string();
    let split = SplitConfig {
        eval_fraction: opts.eval_fraction,
        seed: opts.seed,
    };
    let mut out = PreparedPairs::default();
    for item in reader.by_ref() {
        let parsed = item?;
        match encode_example(tok, opts, &parsed.record, parsed.line, &mut out.report) {
            Ok((pair, group)) => match side_of(&group, split) {
                Side::Train => out.train.push(pair),
                Side::Eval => out.eval.push(pair),
            },
            Err(e) => {
                let bad = BadRecord::at(file.clone(), parsed.line, e);
                tracing::debug!("{bad}");
                if !opts.lenient {
                    return Err(DpoError::BadPair(bad));
                }
                out.skipped.push(bad);
            }
        }
    }
    let mut skipped = reader.into_report().bad;
    skipped.append(&mut out.skipped);
    skipped.sort_by_key(|b| b.line);
    out.skipped = skipped;
    Ok(out)
}
