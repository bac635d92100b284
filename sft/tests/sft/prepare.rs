//! `sft::prepare` with SmolLM2's GGUF tokenizer: the loss mask covers exactly the
//! assistant reply (checked against the ChatML text written out by hand), long
//! examples are cut, bad records are named by file:line: field (strict) or counted
//! (lenient), and the held-out split is deterministic. Also `sft::plot` and the
//! settings' validation and TOML-style keys.

use sft::finetune::FinetuneConfig;
use sft::prepare::{ChatTokenizer, PrepareOptions, prepare_file};
use sft::{Example, SftError};
use std::path::PathBuf;

fn gguf() -> PathBuf {
    sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline)
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the artifact cache (run `distill setup` or set DISTILL_CACHE)")
}

fn line(system: &str, user: &str, reply: &str) -> String {
    serde_json::json!({"messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": reply},
    ]})
    .to_string()
}

#[test]
fn mask_covers_exactly_the_assistant_reply() {
    let tok = ChatTokenizer::from_gguf(&gguf()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.jsonl");
    std::fs::write(&file, line("Be brief.", "Add 2 and 3.", "2 + 3 = 5") + "\n").unwrap();
    let opts = PrepareOptions {
        eval_fraction: 0.0,
        ..PrepareOptions::default()
    };
    let p = prepare_file(&file, &tok, &opts).unwrap();
    assert_eq!((p.train.len(), p.eval.len(), p.skipped.len()), (1, 0, 0));
    let ex = &p.train[0];

    // SmolLM2's template is ChatML: each turn is `<|im_start|>{role}\n{content}<|im_end|>\n`.
    // The prompt ends with the assistant header; the reply, its `<|im_end|>` and the
    // newline after it are trained.
    let prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nAdd 2 and 3.<|im_end|>\n<|im_start|>assistant\n";
    let reply = "2 + 3 = 5<|im_end|>\n";
    let enc = |s: &str| tok.tokenizer.encode(s, false).unwrap().get_ids().to_vec();
    let (p_ids, r_ids) = (enc(prompt), enc(reply));
    let mut ids = p_ids.clone();
    ids.extend(&r_ids);
    assert_eq!(ex.input_ids, ids);
    let mut mask = vec![0u8; p_ids.len()];
    mask.extend(vec![1u8; r_ids.len()]);
    assert_eq!(ex.loss_mask, mask);
    // `<|im_end|>` is one special token and trained: the model learns to stop
    let im_end = tok.tokenizer.token_to_id("<|im_end|>").unwrap();
    let trained: Vec<u32> = ex
        .input_ids
        .iter()
        .zip(&ex.loss_mask)
        .filter(|(_, m)| **m == 1)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(trained.iter().filter(|&&t| t == im_end).count(), 1);
    assert_eq!(
        tok.tokenizer.decode(&trained, false).unwrap(),
        "2 + 3 = 5<|im_end|>\n"
    );
    // the prompt carries two `<|im_end|>`s, neither trained
    assert_eq!(p_ids.iter().filter(|&&t| t == im_end).count(), 2);
}

#[test]
fn long_examples_are_cut_and_prompts_past_the_limit_rejected() {
    let tok = ChatTokenizer::from_gguf(&gguf()).unwrap();
    let long_reply = "word ".repeat(200);
    let ex: Example = tok
        .encode(
            &[
                datasets::records::Message::user("Say words."),
                datasets::records::Message::assistant(long_reply),
            ],
            64,
        )
        .unwrap();
    assert_eq!(ex.input_ids.len(), 64);
    assert_eq!(*ex.loss_mask.last().unwrap(), 1);
    let err = tok
        .encode(
            &[
                datasets::records::Message::system("long ".repeat(100)),
                datasets::records::Message::user("Hi"),
                datasets::records::Message::assistant("Hello"),
            ],
            32,
        )
        .unwrap_err();
    assert_eq!(err.field, "messages");
    assert!(err.reason.contains("prompt alone"), "{}", err.reason);
}

#[test]
fn bad_records_are_named_strict_and_counted_lenient() {
    let tok = ChatTokenizer::from_gguf(&gguf()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.jsonl");
    let text = [
        line("S", "Q1", "A1"),
        line("S", "Q2", " "),
        r#"{"messages": [{"role": "user", "content": "no reply"}]}"#.to_string(),
        r#"{"text": "plain language modeling"}"#.to_string(),
        line("S", "Q5", "A5"),
    ]
    .join("\n")
        + "\n";
    std::fs::write(&file, text).unwrap();
    let strict = prepare_file(&file, &tok, &PrepareOptions::default()).unwrap_err();
    let SftError::BadRecord(bad) = &strict else {
        panic!("expected a bad record, got {strict}");
    };
    assert_eq!((bad.line, bad.field.as_str()), (2, "messages[2].content"));
    assert!(
        strict
            .to_string()
            .starts_with(&format!("{}:2: messages[2].content: ", file.display()))
    );

    let lenient = PrepareOptions {
        lenient: true,
        eval_fraction: 0.0,
        ..PrepareOptions::default()
    };
    let p = prepare_file(&file, &tok, &lenient).unwrap();
    assert_eq!(p.train.len(), 2);
    let lines: Vec<u64> = p.skipped.iter().map(|b| b.line).collect();
    assert_eq!(lines, [2, 3, 4]);
    assert_eq!(p.skipped[1].field, "messages[0].role");
    assert_eq!(p.skipped[2].field, "<record>");
}

#[test]
fn held_out_split_is_deterministic_by_problem() {
    let tok = ChatTokenizer::from_gguf(&gguf()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.jsonl");
    // two samples of each of 20 problems (same user message = same problem)
    let text: String = (0..40)
        .map(|i| line("S", &format!("Problem {}", i / 2), &format!("Answer {i}")) + "\n")
        .collect();
    std::fs::write(&file, text).unwrap();
    let opts = PrepareOptions {
        eval_fraction: 0.3,
        seed: 7,
        ..PrepareOptions::default()
    };
    let a = prepare_file(&file, &tok, &opts).unwrap();
    let b = prepare_file(&file, &tok, &opts).unwrap();
    assert_eq!(a.train, b.train);
    assert_eq!(a.eval, b.eval);
    assert_eq!(a.train.len() + a.eval.len(), 40);
    // whole problems move together: both sides hold an even number of samples
    assert!(a.eval.len().is_multiple_of(2) && !a.eval.is_empty() && !a.train.is_empty());
    // the side of each problem is the datasets crate's hash decision
    let expected_eval = (0..20)
        .filter(|p| {
            datasets::split::side_of(
                &format!("user:Problem {p}"),
                datasets::split::SplitConfig {
                    eval_fraction: 0.3,
                    seed: 7,
                },
            ) == datasets::split::Side::Eval
        })
        .count();
    assert_eq!(a.eval.len(), 2 * expected_eval);
}

#[test]
fn settings_reject_nan_lr_and_read_flag_named_keys() {
    let base = FinetuneConfig {
        model: "m.gguf".into(),
        data: "d.jsonl".into(),
        out: "out".into(),
        ..FinetuneConfig::default()
    };
    base.validate().unwrap();
    for bad in [
        FinetuneConfig {
            lr: f64::NAN,
            ..base.clone()
        },
        FinetuneConfig {
            lr: 0.0,
            ..base.clone()
        },
        FinetuneConfig {
            batch_size: 0,
            ..base.clone()
        },
        FinetuneConfig {
            lora_rank: 0,
            ..base.clone()
        },
        FinetuneConfig {
            eval_fraction: 1.0,
            ..base.clone()
        },
        FinetuneConfig {
            max_len: 1,
            ..base.clone()
        },
        FinetuneConfig {
            full: true,
            merge: true,
            ..base.clone()
        },
        FinetuneConfig {
            model: PathBuf::new(),
            ..base.clone()
        },
    ] {
        assert!(
            matches!(bad.validate(), Err(SftError::InvalidArgument(_))),
            "{bad:?}"
        );
    }
    // keys are the flags' names
    let c: FinetuneConfig = serde_json::from_value(serde_json::json!({
        "model": "m.gguf", "lora-rank": 4, "batch-size": 2, "lora-targets": ["q_proj", "v_proj"]
    }))
    .unwrap();
    assert_eq!((c.lora_rank, c.batch_size, c.lr), (4, 2, 2e-4));
    assert_eq!(
        c.lora_targets,
        [sft::LoraTarget::QProj, sft::LoraTarget::VProj]
    );
    assert!(serde_json::from_value::<FinetuneConfig>(serde_json::json!({"lora_rank": 4})).is_err());
}

#[test]
fn plot_draws_each_curve_in_its_panel() {
    use sft::plot::{COLORS, curves, render_rgb};
    let metrics: Vec<sft::StepMetrics> = (1..=10u64)
        .map(|s| sft::StepMetrics {
            step: s,
            loss: 3.0 / s as f64,
            grad_norm: 1.0 + s as f64,
            learning_rate: 1e-4,
            num_tokens: 10 * s,
            mean_token_accuracy: 0.5,
            epoch: s as f64 / 10.0,
            eval_loss: None,
            tokens_per_sec: 1.0,
            peak_rss_bytes: None,
            extra: Default::default(),
        })
        .collect();
    let c = curves(&metrics);
    assert_eq!(c[0].ranges(), Some(((1.0, 10.0), (0.3, 3.0))));
    assert_eq!(c[1].points.len(), 0, "no eval_loss logged");
    let (w, h) = (400u32, 300u32);
    let rgb = render_rgb(&c, w, h).unwrap();
    // which panel (0..4, row-major 2x2) holds pixels of each curve colour
    let mut seen = [[false; 4]; 4];
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * 3) as usize;
            let px = (rgb[i], rgb[i + 1], rgb[i + 2]);
            for (k, col) in COLORS.iter().enumerate() {
                if px == (col.0, col.1, col.2) {
                    let panel = (y / (h / 2)) * 2 + x / (w / 2);
                    seen[k][panel as usize] = true;
                }
            }
        }
    }
    assert_eq!(seen[0], [true, false, false, false], "loss: top left only");
    assert_eq!(seen[1], [false; 4], "eval_loss: nothing drawn");
    assert_eq!(
        seen[2],
        [false, false, true, false],
        "learning_rate: bottom left"
    );
    assert_eq!(
        seen[3],
        [false, false, false, true],
        "grad_norm: bottom right"
    );
}
