//! GGUF metadata and the byte-level BPE tokenizer rebuilt from it.
//!
//! A tiny GGUF written here, with ids derived by hand; and the real models from the
//! artifact cache that `distill setup` fills (pinned and verified; tests run offline):
//! their token ids must equal llama.cpp's in
//! tests/fixtures/tokenizer/reference_ids.json (made by make_reference.mjs).

use std::path::PathBuf;

use datasets::tokenizer::{GgufError, GgufMetadata, GgufTokenizer, MetaValue};
use sandbox::artifacts::{
    ArtifactStore, FetchMode, FileArtifact, HUMANEVAL, QWEN25_CODER_05B_GGUF, SMOLLM2_135M_GGUF,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_str_array(out: &mut Vec<u8>, key: &str, items: &[&str]) {
    put_str(out, key);
    out.extend(9u32.to_le_bytes());
    out.extend(8u32.to_le_bytes());
    out.extend((items.len() as u64).to_le_bytes());
    for s in items {
        put_str(out, s);
    }
}

/// A GGUF v3 file with no tensors and a seven-key byte-level vocabulary.
fn tiny_gguf() -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.extend(7u64.to_le_bytes());
    put_str(&mut out, "tokenizer.ggml.model");
    out.extend(8u32.to_le_bytes());
    put_str(&mut out, "gpt2");
    put_str(&mut out, "tokenizer.ggml.pre");
    out.extend(8u32.to_le_bytes());
    put_str(&mut out, "default");
    // ids:              0    1    2    3     4      5    6     7               8
    let tokens = [
        "a",
        "b",
        "c",
        "ab",
        "abc",
        "Ġ",
        "Ġa",
        "<|im_start|>",
        "</s>",
    ];
    put_str_array(&mut out, "tokenizer.ggml.tokens", &tokens);
    put_str_array(&mut out, "tokenizer.ggml.merges", &["a b", "ab c", "Ġ a"]);
    put_str(&mut out, "tokenizer.ggml.token_type");
    out.extend(9u32.to_le_bytes());
    out.extend(5u32.to_le_bytes()); // i32 elements
    out.extend(9u64.to_le_bytes());
    for ty in [1i32, 1, 1, 1, 1, 1, 1, 3, 1] {
        out.extend(ty.to_le_bytes());
    }
    put_str(&mut out, "tokenizer.ggml.eos_token_id");
    out.extend(4u32.to_le_bytes()); // u32
    out.extend(8u32.to_le_bytes());
    put_str(&mut out, "tokenizer.ggml.add_bos_token");
    out.extend(7u32.to_le_bytes()); // bool
    out.push(0);
    out
}

#[test]
fn tiny_gguf_tokenizes_as_derived_by_hand() {
    let bytes = tiny_gguf();
    let meta = match GgufMetadata::from_reader(&mut bytes.as_slice(), "tiny.gguf") {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert_eq!((meta.version, meta.tensor_count), (3, 0));
    assert_eq!(
        meta.kv.get("tokenizer.ggml.eos_token_id"),
        Some(&MetaValue::UInt(8))
    );
    let tok = match GgufTokenizer::from_metadata(&meta) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(tok.eos_token.as_deref(), Some("</s>"));
    assert!(!tok.add_bos);
    // "abc ab<|im_start|>c</s>": the special token splits first; GPT-2's
    // regex splits "abc ab" into "abc" and " ab" (byte-level "Ġab").
    // "abc": merge a+b (rank 0), then ab+c (rank 1) -> abc = 4.
    // "Ġab": a+b (rank 0) beats Ġ+a (rank 2) -> Ġ, ab = 5, 3; nothing merges
    // Ġ with ab. "<|im_start|>" is control = 7. "c" = 2. "</s>" is typed
    // normal but llama.cpp promotes it to control, so it stays whole = 8.
    let ids = match tok.encode("abc ab<|im_start|>c</s>") {
        Ok(ids) => ids,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(ids, [4, 5, 3, 7, 2, 8]);
    assert_eq!(
        tok.decode(&ids).unwrap_or_default(),
        "abc ab<|im_start|>c</s>"
    );
}

#[test]
fn bad_gguf_files_are_rejected_with_the_reason() {
    let mut bad = tiny_gguf();
    bad[0] = b'X';
    assert!(matches!(
        GgufMetadata::from_reader(&mut bad.as_slice(), "x"),
        Err(GgufError::BadMagic { .. })
    ));
    let mut v1 = tiny_gguf();
    v1[4] = 1;
    assert!(matches!(
        GgufMetadata::from_reader(&mut v1.as_slice(), "x"),
        Err(GgufError::Version { version: 1, .. })
    ));
    let cut = tiny_gguf();
    assert!(matches!(
        GgufMetadata::from_reader(&mut &cut[..cut.len() - 3], "x"),
        Err(GgufError::Io { .. })
    ));
    let mut sp = tiny_gguf();
    // Turn the tokenizer model into sentencepiece ("llama"): not rebuilt.
    let at = sp.windows(4).position(|w| w == b"gpt2").unwrap_or(0);
    sp.splice(at..at + 4, b"lama".iter().copied());
    let meta = match GgufMetadata::from_reader(&mut sp.as_slice(), "x") {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert!(GgufTokenizer::from_metadata(&meta).is_err());
}

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizer/reference_ids.json");
    match std::fs::read_to_string(&path).map(|s| serde_json::from_str(&s)) {
        Ok(Ok(v)) => v,
        other => panic!("{}: {other:?}", path.display()),
    }
}

fn sha256_file(path: &str) -> String {
    let mut h = Sha256::new();
    match std::fs::File::open(path) {
        Ok(mut f) => {
            if let Err(e) = std::io::copy(&mut f, &mut h) {
                panic!("{path}: {e}");
            }
        }
        Err(e) => panic!("{path}: {e}"),
    }
    hex::encode(h.finalize())
}

fn ids(v: &Value) -> Vec<Vec<u32>> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The verified path of a cached artifact; fails with the setup hint if missing.
fn cached(artifact: &FileArtifact) -> String {
    match ArtifactStore::from_env(FetchMode::Offline).file(artifact) {
        Ok(path) => path.to_string_lossy().into_owned(),
        Err(e) => panic!("{e} (tests need `cargo run --release -- setup`)"),
    }
}

/// Acceptance 1 (tokenizer half): both GGUF tokenizers equal llama.cpp on 75 edge cases
/// and all 164 HumanEval prompts + solutions.
#[test]
fn gguf_tokenizers_equal_llama_cpp_on_the_reference_corpus() {
    let fixture = fixture();
    let edge: Vec<String> = {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tokenizer/edge_cases.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default()).unwrap_or_default()
    };
    assert_eq!(edge.len(), 75);
    let humaneval_path = cached(&HUMANEVAL);
    assert_eq!(
        sha256_file(&humaneval_path),
        fixture["humaneval_sha256"].as_str().unwrap_or_default()
    );
    let humaneval: Vec<String> = match datasets::bench::load_humaneval(&humaneval_path) {
        Ok(t) => t
            .iter()
            .map(|t| format!("{}{}", t.prompt, t.canonical_solution))
            .collect(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(humaneval.len(), 164);
    let mut checked = 0;
    for (name, artifact) in [
        ("smollm2-135m-instruct", &SMOLLM2_135M_GGUF),
        ("qwen2.5-coder-0.5b-instruct", &QWEN25_CODER_05B_GGUF),
    ] {
        let path = cached(artifact);
        let reference = &fixture["models"][name];
        assert_eq!(
            sha256_file(&path),
            reference["gguf_sha256"].as_str().unwrap_or_default()
        );
        let tok = match GgufTokenizer::from_file(&path) {
            Ok(t) => t,
            Err(e) => panic!("{name}: {e}"),
        };
        let want_edge = ids(&reference["edge_cases"]);
        let want_humaneval = ids(&reference["humaneval"]);
        assert_eq!((want_edge.len(), want_humaneval.len()), (75, 164), "{name}");
        let corpus: Vec<(String, Vec<u32>)> = edge
            .iter()
            .cloned()
            .zip(want_edge)
            .chain(humaneval.iter().cloned().zip(want_humaneval))
            .collect();
        let mismatches: Vec<String> = corpus
            .iter()
            .filter_map(|(text, want)| {
                let got = tok.encode(text).unwrap_or_default();
                (&got != want)
                    .then(|| format!("{text:?}\n  llama.cpp {want:?}\n  ours      {got:?}"))
            })
            .collect();
        assert!(
            mismatches.is_empty(),
            "{name}: {} mismatches\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
        checked += corpus.len();
    }
    assert_eq!(checked, 2 * (75 + 164));
    println!("tokenizer parity: {checked} texts equal llama.cpp's ids");
}
