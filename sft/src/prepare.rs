//! From SFT records on disk to training [`Example`]s: the model's tokenizer and chat
//! template ([`ChatTokenizer`], from a GGUF file or a Hugging Face directory),
//! assistant-only loss masks from the `datasets` crate, a deterministic held-out
//! split by problem, and bad records reported as `file:line: field: reason` (an error
//! in strict mode, skipped and counted in lenient mode).

use crate::data::Example;
use crate::error::{Result, SftError};
use datasets::chat::{ChatTemplate, MaskOptions};
use datasets::jsonl::{JsonlReader, ReadOptions};
use datasets::records::{Message, Role, SftExample};
use datasets::split::{Side, SplitConfig, sft_group, side_of};
use datasets::{BadRecord, FieldError};
use std::path::Path;
use tokenizers::Tokenizer;

/// A model's tokenizer with its chat template and special token ids.
pub struct ChatTokenizer {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// The compiled chat template.
    pub template: ChatTemplate,
    /// The template's source text (written next to merged models).
    pub template_source: String,
    /// The BOS token's text, if the model has one.
    pub bos_token: Option<String>,
    /// The EOS token's text, if the model has one.
    pub eos_token: Option<String>,
    /// The BOS token's id, if the model has one.
    pub bos_id: Option<u32>,
    /// The EOS token's id, if the model has one.
    pub eos_id: Option<u32>,
}

impl std::fmt::Debug for ChatTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTokenizer")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

fn tok_err(path: &Path, message: impl std::fmt::Display) -> SftError {
    SftError::Tokenizer {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl ChatTokenizer {
    /// From a GGUF file or a Hugging Face directory, whichever `path` is.
    pub fn from_model_path(path: &Path) -> Result<Self> {
        if path.is_dir() {
            Self::from_hf_dir(path)
        } else {
            Self::from_gguf(path)
        }
    }

    /// The tokenizer and chat template stored in a GGUF file's metadata.
    pub fn from_gguf(path: &Path) -> Result<Self> {
        let tok =
            datasets::tokenizer::GgufTokenizer::from_file(path).map_err(|e| tok_err(path, e))?;
        let source = tok
            .chat_template
            .clone()
            .ok_or_else(|| tok_err(path, "the GGUF file has no chat template"))?;
        Self::assemble(path, tok.tokenizer, source, tok.bos_token, tok.eos_token)
    }

    /// `tokenizer.json` and the `chat_template` of `tokenizer_config.json` (or
    /// `chat_template.jinja`) in a Hugging Face directory.
    pub fn from_hf_dir(dir: &Path) -> Result<Self> {
        let tokenizer = datasets::tokenizer::load_tokenizer_json(dir.join("tokenizer.json"))
            .map_err(|e| tok_err(&dir.join("tokenizer.json"), e))?;
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: serde_json::Value = match std::fs::read_to_string(&cfg_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| tok_err(&cfg_path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
            Err(source) => {
                return Err(SftError::Io {
                    path: cfg_path,
                    source,
                });
            }
        };
        // `bos_token` is a string or an AddedToken object `{"content": ...}`
        let special = |key: &str| -> Option<String> {
            match cfg.get(key)? {
                serde_json::Value::String(s) => Some(s.clone()),
                v => v.get("content")?.as_str().map(str::to_string),
            }
        };
        let jinja = dir.join("chat_template.jinja");
        let source = match cfg.get("chat_template") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(named)) => named
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template"))
                .and_then(|t| t.as_str())
                .map(str::to_string)
                .ok_or_else(|| tok_err(&cfg_path, "no `default` chat template in the list"))?,
            _ if jinja.is_file() => {
                std::fs::read_to_string(&jinja).map_err(|source| SftError::Io {
                    path: jinja.clone(),
                    source,
                })?
            }
            _ => return Err(tok_err(&cfg_path, "no `chat_template`")),
        };
        Self::assemble(
            dir,
            tokenizer,
            source,
            special("bos_token"),
            special("eos_token"),
        )
    }

    fn assemble(
        path: &Path,
        tokenizer: Tokenizer,
        source: String,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self> {
        let template = ChatTemplate::new(
            source.clone(),
            bos_token.clone().unwrap_or_default(),
            eos_token.clone().unwrap_or_default(),
        )
        .map_err(|e| tok_err(path, e))?;
        let id = |t: &Option<String>| t.as_deref().and_then(|t| tokenizer.token_to_id(t));
        let (bos_id, eos_id) = (id(&bos_token), id(&eos_token));
        Ok(ChatTokenizer {
            tokenizer,
            template,
            template_source: source,
            bos_token,
            eos_token,
            bos_id,
            eos_id,
        })
    }

    /// Token ids and the assistant-only loss mask of one conversation, cut at
    /// `max_len` tokens. The error names the field at fault.
    pub fn encode(
        &self,
        messages: &[Message],
        max_len: usize,
    ) -> std::result::Result<Example, FieldError> {
        for (i, m) in messages.iter().enumerate() {
            if m.role == Role::Assistant && m.content.trim().is_empty() {
                return Err(FieldError::new(
                    format!("messages[{i}].content"),
                    "the assistant reply is empty (nothing to learn)",
                ));
            }
        }
        let opts = MaskOptions {
            max_len: Some(max_len),
            bos_id: self.bos_id,
            ..MaskOptions::default()
        };
        let sample = self
            .template
            .assistant_mask(&self.tokenizer, messages, &opts)
            .map_err(|e| FieldError::new("messages", e.to_string()))?;
        let example = Example {
            input_ids: sample.input_ids,
            loss_mask: sample.loss_mask.iter().map(|&m| u8::from(m)).collect(),
            position_ids: None,
        };
        if example.trained_tokens() == 0 {
            return Err(FieldError::new(
                "messages",
                format!("the loss mask is empty within the first {max_len} tokens"),
            ));
        }
        Ok(example)
    }
}

/// How to read and split a data file.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareOptions {
    /// Longest example in tokens; longer ones are cut at the end. Default 1024.
    pub max_len: usize,
    /// Skip and count bad records instead of stopping at the first. Default false.
    pub lenient: bool,
    /// Expected fraction of problems held out for eval loss. Default 0.05.
    pub eval_fraction: f64,
    /// Seed of the split. Default 0.
    pub seed: u64,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            max_len: 1024,
            lenient: false,
            eval_fraction: 0.05,
            seed: 0,
        }
    }
}

/// A data file turned into training and held-out examples.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Training examples, in file order.
    pub train: Vec<Example>,
    /// Held-out examples, in file order.
    pub eval: Vec<Example>,
    /// Bad records skipped (lenient mode only; strict mode stops at the first).
    pub skipped: Vec<BadRecord>,
}

impl Prepared {
    /// A digest of every example (tokens, masks, train or eval side), as 16 hex
    /// digits: what ties checkpoints and caches to one prepared data set.
    pub fn digest(&self) -> String {
        // FNV-1a, 64 bit: stable across builds and platforms
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u32| {
            for b in x.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        for (side, set) in [(1u32, &self.train), (2, &self.eval)] {
            for e in set.iter() {
                eat(side);
                eat(e.input_ids.len() as u32);
                e.input_ids.iter().for_each(|&t| eat(t));
                e.loss_mask.iter().for_each(|&m| eat(u32::from(m)));
            }
        }
        format!("{h:016x}")
    }
}

/// Reads `path` (JSONL, plain or gzip; ours or TRL's conversational shapes), encodes
/// each record with `tok`, and splits by problem.
pub fn prepare_file(path: &Path, tok: &ChatTokenizer, opts: &PrepareOptions) -> Result<Prepared> {
    if opts.max_len < 2 {
        return Err(SftError::InvalidArgument(format!(
            "max_len {} must be at least 2",
            opts.max_len
        )));
    }
    if !(0.0..1.0).contains(&opts.eval_fraction) {
        return Err(SftError::InvalidArgument(format!(
            "eval_fraction {} must be in [0, 1)",
            opts.eval_fraction
        )));
    }
    let read_opts = if opts.lenient {
        ReadOptions::lenient()
    } else {
        ReadOptions::default()
    };
    let mut reader = JsonlReader::<SftExample>::open(path, read_opts)?;
    let file = path.display().to_string();
    let split = SplitConfig {
        eval_fraction: opts.eval_fraction,
        seed: opts.seed,
    };
    let mut out = Prepared::default();
    for item in reader.by_ref() {
        let parsed = item?;
        let encoded = match parsed.record.to_sft_record() {
            None => Err(FieldError::new(
                "<record>",
                "a plain-text example has no chat structure; use `messages` or a conversational prompt/completion",
            )),
            Some(r) => tok.encode(&r.messages, opts.max_len).map(|e| (r, e)),
        };
        match encoded {
            Ok((record, example)) => match side_of(&sft_group(&record), split) {
                Side::Train => out.train.push(example),
                Side::Eval => out.eval.push(example),
            },
            Err(e) => {
                let bad = BadRecord::at(file.clone(), parsed.line, e);
                if !opts.lenient {
                    return Err(SftError::BadRecord(bad));
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
