//! Assistant-only loss masks. The tokenizer is a byte-level BPE whose id for
//! every byte is the byte itself (no merges unless asked), plus
//! `<|im_start|>` = 256 and `<|im_end|>` = 257, so every expected mask is
//! counted by hand from the rendered text.

use std::path::PathBuf;

use datasets::chat::{ChatTemplate, MaskError, MaskOptions, show_mask};
use datasets::records::Message;
use datasets::tokenizer::{GgufMetadata, GgufTokenizer};

const IM_START: u32 = 256;
const IM_END: u32 = 257;

/// GPT-2's byte-to-unicode table: byte b is spelled as this char.
fn byte_char(b: u8) -> char {
    let printable =
        |c: u32| (33..=126).contains(&c) || (161..=172).contains(&c) || (174..=255).contains(&c);
    let b = u32::from(b);
    if printable(b) {
        char::from_u32(b).unwrap_or('?')
    } else {
        let n = (0..b).filter(|&x| !printable(x)).count() as u32;
        char::from_u32(256 + n).unwrap_or('?')
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_array(out: &mut Vec<u8>, key: &str, items: &[String]) {
    put_str(out, key);
    out.extend(9u32.to_le_bytes());
    out.extend(8u32.to_le_bytes());
    out.extend((items.len() as u64).to_le_bytes());
    for s in items {
        put_str(out, s);
    }
}

/// Byte tokenizer; with `merge_newlines`, "\n\n" is one token (258).
fn byte_tokenizer(merge_newlines: bool) -> GgufTokenizer {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    tokens.push("<|im_start|>".into());
    tokens.push("<|im_end|>".into());
    let nl = byte_char(b'\n').to_string();
    let mut merges = Vec::new();
    if merge_newlines {
        tokens.push(format!("{nl}{nl}"));
        merges.push(format!("{nl} {nl}"));
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.extend(5u64.to_le_bytes());
    for (k, v) in [
        ("tokenizer.ggml.model", "gpt2"),
        ("tokenizer.ggml.pre", "qwen2"),
    ] {
        put_str(&mut out, k);
        out.extend(8u32.to_le_bytes());
        put_str(&mut out, v);
    }
    put_array(&mut out, "tokenizer.ggml.tokens", &tokens);
    put_array(&mut out, "tokenizer.ggml.merges", &merges);
    put_str(&mut out, "tokenizer.ggml.token_type");
    out.extend(9u32.to_le_bytes());
    out.extend(5u32.to_le_bytes());
    out.extend((tokens.len() as u64).to_le_bytes());
    for (i, _) in tokens.iter().enumerate() {
        let ty: i32 = if i == 256 || i == 257 { 3 } else { 1 };
        out.extend(ty.to_le_bytes());
    }
    let meta = match GgufMetadata::from_reader(&mut out.as_slice(), "bytes.gguf") {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    match GgufTokenizer::from_metadata(&meta) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn chatml() -> ChatTemplate {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chat_templates/smollm2.jinja");
    match ChatTemplate::new(
        std::fs::read_to_string(path).unwrap_or_default(),
        "<|im_start|>",
        "<|im_end|>",
    ) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn trained_positions(mask: &[bool]) -> Vec<usize> {
    mask.iter()
        .enumerate()
        .filter(|(_, t)| **t)
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn byte_tokenizer_ids_are_bytes() {
    let tok = byte_tokenizer(false);
    assert_eq!(
        tok.encode("a\n<|im_end|>é").unwrap_or_default(),
        [97, 10, IM_END, 0xc3, 0xa9]
    );
}

#[test]
fn only_the_assistant_turn_and_its_end_of_turn_are_trained() {
    let tok = byte_tokenizer(false);
    let conv = [
        Message::system("S"),
        Message::user("U"),
        Message::assistant("ab"),
    ];
    // "<|im_start|>system\nS<|im_end|>\n" = 1 + 6 + 1 + 1 + 1 + 1 = 11 tokens,
    // "<|im_start|>user\nU<|im_end|>\n" = 1 + 4 + 1 + 1 + 1 + 1 = 9 (20),
    // "<|im_start|>assistant\n" = 1 + 9 + 1 = 11 (31), then "ab<|im_end|>\n" =
    // 4 trained tokens at 31..35.
    let s = match chatml().assistant_mask(&tok.tokenizer, &conv, &MaskOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(s.input_ids.len(), 35);
    assert_eq!(&s.input_ids[31..], [97, 98, IM_END, 10]);
    assert_eq!(trained_positions(&s.loss_mask), [31, 32, 33, 34]);
    assert_eq!(
        show_mask(&tok.tokenizer, &s),
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n⟦ab<|im_end|>\n⟧"
    );
    // Llama 3 style: special tokens left out of the loss.
    let opts = MaskOptions {
        mask_special_tokens: true,
        ..MaskOptions::default()
    };
    let s = match chatml().assistant_mask(&tok.tokenizer, &conv, &opts) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(trained_positions(&s.loss_mask), [31, 32, 34]);
}

#[test]
fn every_assistant_turn_of_a_multi_turn_dialogue_is_trained() {
    let tok = byte_tokenizer(false);
    let conv = [
        Message::system("S"),
        Message::user("U"),
        Message::assistant("a"),
        Message::user("V"),
        Message::assistant("b"),
    ];
    // Turn 1 trained at 31..34 ("a<|im_end|>\n"); then user "V" (9 tokens,
    // 34..43) and the assistant header (11, 43..54); turn 2 at 54..57.
    let s = match chatml().assistant_mask(&tok.tokenizer, &conv, &MaskOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(trained_positions(&s.loss_mask), [31, 32, 33, 54, 55, 56]);
    assert_eq!(s.input_ids.len(), 57);
}

#[test]
fn length_limits_truncate_or_reject() {
    let tok = byte_tokenizer(false);
    let conv = [
        Message::system("S"),
        Message::user("U"),
        Message::assistant("ab"),
    ];
    let cut = MaskOptions {
        max_len: Some(33),
        ..MaskOptions::default()
    };
    match chatml().assistant_mask(&tok.tokenizer, &conv, &cut) {
        Ok(s) => assert_eq!(trained_positions(&s.loss_mask), [31, 32]),
        Err(e) => panic!("{e}"),
    }
    let too_short = MaskOptions {
        max_len: Some(31),
        ..MaskOptions::default()
    };
    match chatml().assistant_mask(&tok.tokenizer, &conv, &too_short) {
        Err(MaskError::PromptTooLong {
            prompt_tokens: 31,
            max_len: 31,
        }) => {}
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
}

#[test]
fn empty_masks_doubled_bos_and_boundary_merges_are_errors() {
    let tok = byte_tokenizer(false);
    let conv = [Message::user("U"), Message::assistant("a")];
    // A template that drops assistant turns leaves nothing to train.
    let users_only = ChatTemplate::new(
        "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}",
        "",
        "",
    );
    match users_only.map(|t| t.assistant_mask(&tok.tokenizer, &conv, &MaskOptions::default())) {
        Ok(Err(MaskError::EmptyMask)) => {}
        other => panic!("expected EmptyMask, got {other:?}"),
    }
    let double_bos = ChatTemplate::new(
        "{{ bos_token }}{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}",
        "<|im_start|>",
        "",
    );
    let opts = MaskOptions {
        bos_id: Some(IM_START),
        ..MaskOptions::default()
    };
    match double_bos.map(|t| t.assistant_mask(&tok.tokenizer, &conv, &opts)) {
        Ok(Err(MaskError::DoubledBos)) => {}
        other => panic!("expected DoubledBos, got {other:?}"),
    }
    // With "\n\n" a single token, an answer starting with "\n" merges with
    // the header's "\n": the turn boundary falls inside a token.
    let merging = byte_tokenizer(true);
    let conv = [
        Message::system("S"),
        Message::user("U"),
        Message::assistant("\nx"),
    ];
    match chatml().assistant_mask(&merging.tokenizer, &conv, &MaskOptions::default()) {
        Err(MaskError::BoundaryMerge { index: 2 }) => {}
        other => panic!("expected BoundaryMerge, got {other:?}"),
    }
}
