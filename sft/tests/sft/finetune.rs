//! `sft::finetune` end to end on SmolLM2-135M (GGUF): two LoRA steps with `merge`,
//! then the outputs are read back by independent paths: the PEFT adapter attached to
//! the base weights, and the merged Hugging Face directory (weights and tokenizer)
//! give the same logits, and the merged directory's tokenizer encodes like the GGUF's.

use crate::common::{errors, smollm2, values};
use candle_core::{Device, Tensor};
use sft::finetune::{FinetuneConfig, Progress, finetune};
use sft::prepare::ChatTokenizer;
use sft::{CausalLm, ForwardCtx, TrainMode};

fn gguf() -> std::path::PathBuf {
    sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline)
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the artifact cache (run `distill setup` or set DISTILL_CACHE)")
}

#[test]
fn merged_directory_matches_base_plus_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.jsonl");
    let text: String = ["Name a colour.", "Name a fruit.", "Name a month."]
        .iter()
        .zip(["Blue.", "Apple.", "May."])
        .map(|(q, a)| {
            serde_json::json!({"messages": [
                {"role": "user", "content": q}, {"role": "assistant", "content": a}
            ]})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&data, text).unwrap();
    let cfg = FinetuneConfig {
        model: gguf(),
        data,
        out: dir.path().join("out"),
        lora_rank: 4,
        lora_targets: vec![sft::LoraTarget::QProj, sft::LoraTarget::DownProj],
        lora_dropout: 0.0,
        lr: 1e-2,
        batch_size: 2,
        max_len: 64,
        eval_fraction: 0.0,
        merge: true,
        ..FinetuneConfig::default()
    };
    let mut events = Vec::new();
    let summary = finetune(&cfg, |p| {
        events.push(match p {
            Progress::Start {
                start_step,
                total_steps,
                ..
            } => format!("start {start_step}/{total_steps}"),
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
