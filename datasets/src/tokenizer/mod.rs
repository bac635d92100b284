//! Tokenizers: a `tokenizer.json` through the `tokenizers` crate, or a
//! byte-level BPE tokenizer rebuilt from a GGUF file's metadata (vocabulary,
//! merges, token types, pre-tokenizer name), matching llama.cpp.

mod gguf;
mod gguf_bpe;

pub use gguf::{GgufError, GgufMetadata, MetaValue};
pub use gguf_bpe::{
    GgufTokenizer, LLAMA_CPP_CONTROL_NAMES, TokenizerError, load_tokenizer_json,
    pre_tokenizer_regexes,
};
