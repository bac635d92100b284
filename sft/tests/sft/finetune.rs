//! `sft::finetune` end to end on SmolLM2-135M (GGUF): two LoRA steps with `merge`,
//! then the outputs are read back by independent paths: the PEFT adapter attached to
//! the base weights, and the merged Hugging Face directory (weights and tokenizer)
//! give the same logits, and the merged directory's tokenizer encodes like the GGUF's.
//! The starting model's held-out metrics are computed once, before the first step, and
//! kept across a resume.

use crate::common::{errors, smollm2, values};
use candle_core::{Device, Tensor};
use sft::finetune::{FinetuneConfig, Progress, finetune, load_model, prepare_data};
use sft::prepare::ChatTokenizer;
use sft::start_eval::START_EVAL_FILE;
use sft::{CausalLm, ForwardCtx, TrainMode, Trainer};

fn gguf() -> std::path::PathBuf {
    sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline)
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the artifact cache (run `distill setup` or set DISTILL_CACHE)")
}

/// `pairs` as chat records in `dir/d.jsonl`, and a small LoRA config training on them.
fn small_run(dir: &std::path::Path, pairs: &[(String, String)]) -> FinetuneConfig {
    let data = dir.join("d.jsonl");
    let text: String = pairs
        .iter()
        .map(|(q, a)| {
            serde_json::json!({"messages": [
                {"role": "user", "content": q}, {"role": "assistant", "content": a}
            ]})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&data, text).unwrap();
    FinetuneConfig {
        model: gguf(),
        data,
        out: dir.join("out"),
        lora_rank: 4,
        lora_targets: vec![sft::LoraTarget::QProj, sft::LoraTarget::DownProj],
        lora_dropout: 0.0,
        batch_size: 2,
        max_len: 64,
        ..FinetuneConfig::default()
    }
}

#[test]
fn merged_directory_matches_base_plus_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<(String, String)> = ["Name a colour.", "Name a fruit.", "Name a month."]
        .iter()
        .zip(["Blue.", "Apple.", "May."])
        .map(|(q, a)| (q.to_string(), a.to_string()))
        .collect();
    let cfg = FinetuneConfig {
        lr: 1e-2,
        eval_fraction: 0.0,
        merge: true,
        ..small_run(dir.path(), &pairs)
    };
    let mut events = Vec::new();
    let summary = finetune(&cfg, |p| {
        events.push(match p {
            Progress::Start {
                start_step,
                total_steps,
                ..
            } => format!("start {start_step}/{total_steps}"),
            Progress::StartEval(e) => format!("start eval {}", e.eval_loss),
            Progress::Step(m) => format!("step {}", m.step),
        })
    })
    .unwrap();
    // 3 examples at 2 per step: 2 steps
    assert_eq!(events, ["start 0/2", "step 1", "step 2"]);
    assert_eq!((summary.steps_run, summary.step), (2, 2));
    let merged_dir = summary.merged.clone().unwrap();

    // the GGUF tokenizer and the merged directory's tokenizer.json + config agree
    let a = ChatTokenizer::from_gguf(&gguf()).unwrap();
    let b = ChatTokenizer::from_hf_dir(&merged_dir).unwrap();
    let msgs = [
        datasets::records::Message::user("Hello there, 123!"),
        datasets::records::Message::assistant("General Kenobi."),
    ];
    assert_eq!(a.encode(&msgs, 64).unwrap(), b.encode(&msgs, 64).unwrap());

    let ids = Tensor::from_vec(
        a.encode(&msgs, 64).unwrap().input_ids,
        (1, ()),
        &Device::Cpu,
    )
    .unwrap();
    let logits = |m: &CausalLm| {
        values(
            &m.forward(&ids, None, None, &mut ForwardCtx::eval())
                .unwrap(),
        )
    };
    let (config, weights) = smollm2();
    let mut with_adapter =
        CausalLm::from_weights(config.clone(), weights, &TrainMode::Frozen, &Device::Cpu).unwrap();
    let base = logits(&with_adapter);
    sft::peft::load_adapter(&mut with_adapter, &cfg.out).unwrap();
    let adapted = logits(&with_adapter);
    // training moved the model, or the comparison below says nothing
    assert!(errors(&adapted, &base).0 > 1e-3);
    let (mc, mw) = sft::weights::load_hf_dir(&merged_dir, &Device::Cpu).unwrap();
    let merged =
        logits(&CausalLm::from_weights(mc, &mw, &TrainMode::Frozen, &Device::Cpu).unwrap());
    let (abs, rel) = errors(&merged, &adapted);
    assert!(
        rel < 1e-5,
        "merged vs adapter: max abs {abs:e}, rel {rel:e}"
    );
}

#[test]
fn the_starting_model_is_evaluated_once_and_kept_across_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("What is {i} plus {i}?"),
                format!("{i} plus {i} is {}.", 2 * i),
            )
        })
        .collect();
    let cfg = FinetuneConfig {
        lr: 5e-2,
        eval_fraction: 0.4,
        eval_every: 1,
        max_steps: Some(1),
        ..small_run(dir.path(), &pairs)
    };
    let run = |cfg: &FinetuneConfig| {
        let mut starts = Vec::new();
        let summary = finetune(cfg, |p| {
            if let Progress::StartEval(e) = p {
                starts.push(e.eval_loss);
            }
        })
        .unwrap();
        (summary, starts)
    };

    // the same held-out loss from a model loaded on its own, before any step
    let (tok, prepared) = prepare_data(&cfg).unwrap();
    assert!(!prepared.eval.is_empty() && prepared.train.len() >= 4);
    let model = load_model(
        &cfg.model,
        &TrainMode::Lora(cfg.lora().unwrap()),
        &Device::Cpu,
    )
    .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let expected = Trainer::new(
        model,
        cfg.train_config(tok.eos_id.unwrap_or(0)),
        prepared.train.len(),
        scratch.path(),
    )
    .unwrap()
    .eval_loss(&prepared.eval)
    .unwrap();

    let (first, starts) = run(&cfg);
    let start = first.start_eval.clone().expect("start eval on a fresh run");
    assert_eq!(starts, [start.eval_loss]);
    assert!(
        (start.eval_loss - expected).abs() <= 1e-9 * expected,
        "{} vs {expected}",
        start.eval_loss
    );
    assert!(cfg.out.join(START_EVAL_FILE).is_file());
    // the step moved the held-out loss, so the start value is not the step's
    let after = first.last.as_ref().and_then(|m| m.eval_loss).unwrap();
    assert!((after - start.eval_loss).abs() > 1e-4, "{after}");

    // resumed: the saved start is reported again, not recomputed from step 1
    let (second, starts) = run(&cfg);
    assert_eq!(second.resumed_from, Some(1));
    assert_eq!(second.start_eval, Some(start.clone()));
    assert_eq!(starts, [start.eval_loss]);

    // zero steps: the inputs are checked and the starting model evaluated, nothing trained
    let zero = FinetuneConfig {
        out: dir.path().join("zero"),
        max_steps: Some(0),
        ..cfg.clone()
    };
    let (only, starts) = run(&zero);
    assert_eq!((only.steps_run, only.step), (0, 0));
    assert_eq!(only.start_eval, Some(start.clone()));
    assert_eq!(starts, [start.eval_loss]);

    // eval off: no start eval
    let off = FinetuneConfig {
        out: dir.path().join("off"),
        eval_every: 0,
        ..cfg.clone()
    };
    let (third, starts) = run(&off);
    assert!(third.start_eval.is_none() && starts.is_empty());
    assert!(!off.out.join(START_EVAL_FILE).exists());
}
