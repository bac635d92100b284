//! Preference data → tokenized pairs with SmolLM2's tokenizer and ChatML template:
//! completion masks with and without Llama 3's format-token masking (counts derived by
//! hand from the template), TRL's shapes, truncation counted, and every kind of bad
//! pair reported with its line, strict and lenient.

use crate::common::smollm2_tokenizer;
use datasets::records::DpoExample;
use dpo::pairs::{PrepareReport, encode_example};
use dpo::{DpoError, PairOptions, Truncation, prepare_pairs};
use std::io::Write;

fn parse(line: &str) -> DpoExample {
    use datasets::records::JsonRecord;
    DpoExample::from_json_str(line).unwrap()
}

fn ids(text: &str) -> Vec<u32> {
    smollm2_tokenizer()
        .tokenizer
        .encode(text, false)
        .unwrap()
        .get_ids()
        .to_vec()
}

/// SmolLM2's template renders an assistant turn as
/// `<|im_start|>assistant\n{content}<|im_end|>\n`, and the prompt ends with the
/// generation prompt `<|im_start|>assistant\n`. So the chosen completion's text is
/// `{content}<|im_end|>\n`: the content's tokens, then `<|im_end|>` (a special token)
/// and `\n` (one token), i.e. 2 formatting tokens. Without masking all count; with
/// `mask_format_tokens` exactly the content's tokens count. The prompt tokens are the
/// rendered prompt's, shared by chosen and rejected.
#[test]
fn format_tokens_are_masked_as_llama3_did() {
    let tok = smollm2_tokenizer();
    let line = r#"{"prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"Add 2 and 3 in Python."}],"chosen":[{"role":"assistant","content":"print(2 + 3)"}],"rejected":[{"role":"assistant","content":"print(2 - 3)"}]}"#;
    let ex = parse(line);
    let content = ids("print(2 + 3)");
    let im_end = tok.tokenizer.token_to_id("<|im_end|>").unwrap();
    let newline = ids("\n");
    assert_eq!(newline.len(), 1);
    let prompt = ids(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nAdd 2 and 3 in Python.<|im_end|>\n<|im_start|>assistant\n",
    );

    let mut report = PrepareReport::default();
    let plain = PairOptions::default();
    let (p, _) = encode_example(tok, &plain, &ex, 7, &mut report).unwrap();
    assert_eq!(p.line, 7);
    assert_eq!(p.prompt_ids, prompt);
    let mut expected_ids = content.clone();
    expected_ids.extend([im_end, newline[0]]);
    assert_eq!(p.chosen_ids, expected_ids);
    assert_eq!(p.chosen_tokens(), content.len() + 2);
    assert!(p.chosen_mask.iter().all(|&m| m == 1));

    let llama3 = PairOptions {
        mask_format_tokens: true,
        ..PairOptions::default()
    };
    let (m, _) = encode_example(tok, &llama3, &ex, 7, &mut report).unwrap();
    assert_eq!(
        m.chosen_ids, p.chosen_ids,
        "masking never changes the tokens"
    );
    let mut expected_mask = vec![1u8; content.len()];
    expected_mask.extend([0, 0]);
    assert_eq!(m.chosen_mask, expected_mask);
    assert_eq!(m.chosen_tokens(), content.len());
    assert_eq!(m.rejected_tokens(), ids("print(2 - 3)").len());
    // the sequence the model sees: prompt (never counted) + completion
    let seq = m.chosen();
    assert_eq!(seq.input_ids.len(), prompt.len() + content.len() + 2);
    assert_eq!(seq.trained_tokens(), content.len());
    assert_eq!(report, PrepareReport::default());
}

/// TRL's standard shape (plain strings) is used as written with EOS appended; the
/// implicit-prompt shape splits off the shared prefix.
#[test]
fn standard_and_implicit_shapes() {
    let tok = smollm2_tokenizer();
    let eos = tok.eos_id.unwrap();
    let mut report = PrepareReport::default();
    let opts = PairOptions::default();
    let ex = parse(r#"{"prompt":"Q: 2+3? A:","chosen":" 5","rejected":" 6"}"#);
    let (p, _) = encode_example(tok, &opts, &ex, 1, &mut report).unwrap();
    assert_eq!(p.prompt_ids, ids("Q: 2+3? A:"));
    let mut c = ids(" 5");
    c.push(eos);
    assert_eq!(p.chosen_ids, c);

    let ex = parse(r#"{"chosen":"Q: 2+3? A: 5","rejected":"Q: 2+3? A: 6"}"#);
    let (q, _) = encode_example(tok, &opts, &ex, 1, &mut report).unwrap();
    // TRL's extract_prompt backs off before the trailing space: prompt "Q: 2+3? A:"
    assert_eq!(q, p);

    let ex = parse(
        r#"{"chosen":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}],"rejected":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Go away."}]}"#,
    );
    let (r, _) = encode_example(tok, &opts, &ex, 1, &mut report).unwrap();
    let explicit = parse(
        r#"{"prompt":[{"role":"user","content":"Hi"}],"chosen":[{"role":"assistant","content":"Hello!"}],"rejected":[{"role":"assistant","content":"Go away."}]}"#,
    );
    let (e, _) = encode_example(tok, &opts, &explicit, 1, &mut report).unwrap();
    assert_eq!(r, e);
}

/// Truncation: a long prompt keeps its end (counted), a long completion its start
/// (counted); `reject` turns both into bad pairs.
#[test]
fn truncation_keeps_the_prompt_end_and_is_counted() {
    let tok = smollm2_tokenizer();
    let long = "word ".repeat(60);
    let line = format!(
        r#"{{"prompt":"{long}","chosen":" yes yes yes yes yes yes yes yes yes yes","rejected":" no"}}"#
    );
    let ex = parse(&line);
    let full_prompt = ids(&long);
    let opts = PairOptions {
        max_len: 24,
        max_prompt_len: Some(16),
        ..PairOptions::default()
    };
    let mut report = PrepareReport::default();
    let (p, _) = encode_example(tok, &opts, &ex, 1, &mut report).unwrap();
    assert_eq!(p.prompt_ids, full_prompt[full_prompt.len() - 16..]);
    assert_eq!(p.prompt_ids.len() + p.chosen_ids.len(), 24);
    assert_eq!(
        p.chosen_ids,
        ids(" yes yes yes yes yes yes yes yes yes yes")[..8]
    );
    assert_eq!(
        report,
        PrepareReport {
            prompts_truncated: 1,
            completions_truncated: 1
        }
    );
    let reject = PairOptions {
        truncation: Truncation::Reject,
        ..opts
    };
    let err = encode_example(tok, &reject, &ex, 1, &mut report).unwrap_err();
    assert_eq!(err.field, "prompt");
    assert!(err.reason.contains("too long"), "{}", err.reason);
}

const GOOD: &str = r#"{"prompt":[{"role":"user","content":"Write f."}],"chosen":[{"role":"assistant","content":"def f():\n    return 1"}],"rejected":[{"role":"assistant","content":"def f():\n    print(1)"}]}"#;

/// Every bad-pair kind of acceptance 5, each on its own line of one file.
fn bad_file() -> (
    tempfile::NamedTempFile,
    Vec<(u64, &'static str, &'static str)>,
) {
    let long = "x ".repeat(300);
    let lines = [
        GOOD.to_string(),
        // 2: chosen == rejected (standard shape)
        r#"{"prompt":"Q","chosen":" a","rejected":" a"}"#.to_string(),
        GOOD.to_string(),
        // 4: empty completion
        r#"{"prompt":[{"role":"user","content":"Write g."}],"chosen":[{"role":"assistant","content":"  "}],"rejected":[{"role":"assistant","content":"pass"}]}"#.to_string(),
        // 5: mismatched prompt between chosen and rejected (implicit prompt)
        r#"{"chosen":[{"role":"user","content":"Write h."},{"role":"assistant","content":"def h(): return 1"}],"rejected":[{"role":"user","content":"Write k."},{"role":"assistant","content":"def k(): print(1)"}]}"#.to_string(),
        // 6: prompt longer than the maximum (reject policy)
        format!(r#"{{"prompt":"{long}","chosen":" a","rejected":" b"}}"#),
        // 7: not JSON
        "{not json".to_string(),
        GOOD.to_string(),
    ];
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for l in &lines {
        writeln!(f, "{l}").unwrap();
    }
    let expected = vec![
        (2, "rejected", "identical"),
        (4, "chosen[0].content", "empty completion"),
        (5, "rejected", "mismatched prompt"),
        (6, "prompt", "too long"),
        (7, "", ""),
    ];
    (f, expected)
}

#[test]
fn bad_pairs_are_reported_with_their_lines() {
    let tok = smollm2_tokenizer();
    let (f, expected) = bad_file();
    let opts = PairOptions {
        max_len: 128,
        truncation: Truncation::Reject,
        lenient: true,
        eval_fraction: 0.0,
        ..PairOptions::default()
    };
    let got = prepare_pairs(f.path(), tok, &opts).unwrap();
    // the good records survive
    assert_eq!(got.train.len(), 3);
    assert_eq!(
        got.train.iter().map(|p| p.line).collect::<Vec<_>>(),
        [1, 3, 8]
    );
    assert_eq!(got.skipped.len(), expected.len(), "{:#?}", got.skipped);
    for (bad, (line, field, reason)) in got.skipped.iter().zip(&expected) {
        assert_eq!(bad.line, *line, "{bad}");
        assert!(bad.field.starts_with(field), "{bad}");
        assert!(bad.reason.contains(reason), "{bad}");
        let text = bad.to_string();
        assert!(
            text.starts_with(&format!("{}:{line}:", f.path().display())),
            "{text}"
        );
    }

    // strict: the first bad pair stops the read, naming file and line
    let strict = PairOptions {
        lenient: false,
        ..opts
    };
    match prepare_pairs(f.path(), tok, &strict) {
        Err(DpoError::BadPair(b)) => assert_eq!((b.line, b.field.as_str()), (2, "rejected")),
        other => panic!("expected a bad pair at line 2, got {other:?}"),
    }
}
