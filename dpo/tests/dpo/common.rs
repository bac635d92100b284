//! Shared helpers: the cached SmolLM2 GGUF (from the artifact cache `distill setup`
//! fills) and its chat tokenizer, loaded once; the preference fixture's path.

use sft::prepare::ChatTokenizer;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The SmolLM2-135M-Instruct GGUF file in the artifact cache.
pub fn smollm2_path() -> PathBuf {
    let store = sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline);
    store
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the artifact cache (run `distill setup` or set DISTILL_CACHE)")
}

/// SmolLM2's tokenizer and ChatML template, loaded once.
pub fn smollm2_tokenizer() -> &'static ChatTokenizer {
    static CELL: OnceLock<ChatTokenizer> = OnceLock::new();
    CELL.get_or_init(|| ChatTokenizer::from_gguf(&smollm2_path()).expect("SmolLM2 tokenizer"))
}

/// `dpo/fixtures/pairs.jsonl`: 24 pairs; each prompt names a function after one
/// operation and asks for another; chosen does what is asked (correct), rejected what
/// the name says (wrong).
pub fn pairs_fixture() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pairs.jsonl"))
}

/// `dpo/fixtures/onpolicy_pairs.jsonl`: 54 pairs from two real synth runs on 30 bundled
/// problems; chosen is the Qwen2.5-Coder-0.5B teacher's verified answer, rejected a
/// failed answer of SmolLM2-135M itself (see `fixtures/README.md`).
pub fn onpolicy_pairs_fixture() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/onpolicy_pairs.jsonl"
    ))
}
