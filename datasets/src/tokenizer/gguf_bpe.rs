//! Rebuilding a byte-level BPE tokenizer (`tokenizer.ggml.model = "gpt2"`)
//! from GGUF metadata, the way llama.cpp tokenizes:
//!
//! - vocabulary: `tokenizer.ggml.tokens` (already in the byte-to-unicode
//!   alphabet, `Ġ` for a space), ids by position;
//! - merges: `tokenizer.ggml.merges` (`"left right"`), ranked by position;
//! - pre-tokenizer: the regex sequence llama.cpp uses for
//!   `tokenizer.ggml.pre` (see [`pre_tokenizer_regexes`]), each applied as an
//!   isolating split, then byte-level mapping without its own regex;
//! - special tokens: token type 3 (control) as special added tokens, type 4
//!   (user-defined) as plain added tokens, so both are matched whole; plus
//!   the tokens llama.cpp promotes to control by their text
//!   ([`LLAMA_CPP_CONTROL_NAMES`], e.g. Qwen2.5's `</s>`, stored as a normal
//!   token but matched whole by llama.cpp);
//! - no normalizer, no BOS added (both models here set `add_bos_token` false;
//!   a file asking for BOS is reported in [`GgufTokenizer::add_bos`]).

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::gguf::{GgufError, GgufMetadata};

/// Why a tokenizer could not be built or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// The GGUF metadata is missing something or unreadable.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The GGUF describes a tokenizer this builder does not rebuild.
    #[error("unsupported GGUF tokenizer: {0}")]
    Unsupported(String),
    /// The `tokenizers` crate rejected the data or the input.
    #[error("tokenizer: {0}")]
    Tokenizers(String),
}

fn tk<E: std::fmt::Display>(e: E) -> TokenizerError {
    TokenizerError::Tokenizers(e.to_string())
}

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token texts llama.cpp's vocabulary loader marks as control even when the
/// file types them as normal (its end-of-turn, end-of-generation and
/// fill-in-the-middle auto-detection in `llama-vocab.cpp`). llama.cpp stops at
/// the first match for some categories; this list marks every match, which is
/// the same for the models supported here.
pub const LLAMA_CPP_CONTROL_NAMES: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "<end_of_utterance>",
    "<|eom_id|>",
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<\u{ff5c}fim\u{2581}begin\u{ff5c}>",
    "<PRE>",
    "\u{2581}<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<\u{ff5c}fim\u{2581}hole\u{ff5c}>",
    "<SUF>",
    "\u{2581}<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<\u{ff5c}fim\u{2581}end\u{ff5c}>",
    "<MID>",
    "\u{2581}<MID>",
    "<|code_middle|>",
    "<|middle|>",
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<PAD>",
    "[PAD]",
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
    "<|file_sep|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "</s>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "[e~[",
];

/// The regexes llama.cpp applies, in order, for a `tokenizer.ggml.pre`
/// value (`None` for names this builder does not know): `qwen2`; `smollm`
/// (every digit alone, then GPT-2's); `llama-bpe`/`llama3`; `gpt2`/`default`.
pub fn pre_tokenizer_regexes(pre: &str) -> Option<Vec<&'static str>> {
    match pre {
        "qwen2" | "deepseek-r1-qwen" => Some(vec![QWEN2]),
        "smollm" => Some(vec![r"\p{N}", GPT2]),
        "llama-bpe" | "llama3" | "llama-v3" => Some(vec![LLAMA3]),
        "gpt2" | "default" => Some(vec![GPT2]),
        _ => None,
    }
}

/// A tokenizer rebuilt from GGUF metadata, with the special tokens and
/// chat template the file names.
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// `tokenizer.ggml.pre`.
    pub pre: String,
    /// BOS token text, if the file names one.
    pub bos_token: Option<String>,
    /// EOS token text, if the file names one.
    pub eos_token: Option<String>,
    /// Whether the file asks for a BOS token at the start (`add_bos_token`,
    /// default false here); the caller's chat template decides.
    pub add_bos: bool,
    /// `tokenizer.chat_template`, if present.
    pub chat_template: Option<String>,
}

impl GgufTokenizer {
    /// Reads the GGUF file at `path` (metadata only) and rebuilds its tokenizer.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        Self::from_metadata(&GgufMetadata::read(path)?)
    }

    /// Rebuilds the tokenizer from already-read metadata.
    pub fn from_metadata(meta: &GgufMetadata) -> Result<Self, TokenizerError> {
        let model = meta.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(TokenizerError::Unsupported(format!(
                "tokenizer.ggml.model = {model:?}; only byte-level BPE (\"gpt2\") is rebuilt"
            )));
        }
        let pre = meta.str("tokenizer.ggml.pre").unwrap_or("default");
        let regexes = pre_tokenizer_regexes(pre)
            .ok_or_else(|| TokenizerError::Unsupported(format!("tokenizer.ggml.pre = {pre:?}")))?;
        let tokens = meta.strings("tokenizer.ggml.tokens")?;
        let types = meta.ints("tokenizer.ggml.token_type").unwrap_or_default();
        let merges: Vec<(String, String)> = meta
            .strings("tokenizer.ggml.merges")?
            .iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_string(), b.to_string())),
                None => Err(TokenizerError::Unsupported(format!(
                    "merge {m:?} is not two tokens separated by a space"
                ))),
            })
            .collect::<Result<_, _>>()?;
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(tk)?;
        let mut tokenizer = Tokenizer::new(bpe);
        let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
        for r in regexes {
            let split = Split::new(
                SplitPattern::Regex(r.to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(tk)?;
            steps.push(split.into());
        }
        steps.push(ByteLevel::new(false, false, false).into());
        tokenizer.with_pre_tokenizer(Some(Sequence::new(steps)));
        tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
        let added: Vec<AddedToken> = tokens
            .iter()
            .zip(types.iter())
            .filter_map(|(t, ty)| {
                let control = *ty == 3 || LLAMA_CPP_CONTROL_NAMES.contains(t);
                (control || *ty == 4)
                    .then(|| AddedToken::from(t.to_string(), control).normalized(false))
            })
            .collect();
        let (special, plain): (Vec<_>, Vec<_>) = added.into_iter().partition(|t| t.special);
        tokenizer.add_special_tokens(special).map_err(tk)?;
        tokenizer.add_tokens(plain).map_err(tk)?;
        let token_of = |key: &str| {
            meta.uint(key)
                .ok()
                .and_then(|id| tokens.get(id as usize))
                .map(|t| t.to_string())
        };
        Ok(Self {
            bos_token: token_of("tokenizer.ggml.bos_token_id"),
            eos_token: token_of("tokenizer.ggml.eos_token_id"),
            add_bos: meta.bool("tokenizer.ggml.add_bos_token").unwrap_or(false),
            chat_template: meta.str("tokenizer.chat_template").ok().map(str::to_string),
            pre: pre.to_string(),
            tokenizer,
        })
    }

    /// Token ids of `text`; special-token text (`<|im_start|>`) is matched as
    /// the special token, as llama.cpp does with `parse_special`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(tk)?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids` (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.tokenizer.decode(ids, false).map_err(tk)
    }
}

/// Loads a Hugging Face `tokenizer.json`.
pub fn load_tokenizer_json(path: impl AsRef<Path>) -> Result<Tokenizer, TokenizerError> {
    Tokenizer::from_file(path).map_err(tk)
}
