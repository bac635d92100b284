//! Acceptance 4 of issue 6: the reference log-prob cache. A second run with the same
//! inputs runs no reference pass (no progress events, `CacheStatus::Hit`) and trains
//! on the very same numbers; changing the data, the model weights or the masking
//! option invalidates it (a new key, a new pass). The models are tiny random Llamas
//! with SmolLM2's tokenizer and chat template, written as Hugging Face directories, so
//! a "changed model" is a real change of weight files. Also: a starting adapter as
//! the reference, and full fine-tuning's output.

use crate::common::{pairs_fixture, smollm2_path, smollm2_tokenizer};
use candle_core::Device;
use dpo::{CacheStatus, DpoConfig, Progress, train_dpo};
use sft::{CausalLm, Config, TrainMode};
use std::path::{Path, PathBuf};

fn tiny_model_dir(dir: &Path, seed: u64) -> PathBuf {
    let cfg: Config = serde_json::from_value(serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 49152,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": true
    }))
    .unwrap();
    let model = CausalLm::random(cfg, seed, &TrainMode::Frozen, &Device::Cpu).unwrap();
    let out = dir.join(format!("model-{seed}"));
    sft::finetune::save_model_dir(&model, smollm2_tokenizer(), &smollm2_path(), &out).unwrap();
    out
}

/// Runs one DPO step and returns the summary and the number of reference-pass
/// progress events.
fn run(cfg: &DpoConfig) -> (dpo::DpoSummary, usize) {
    let mut passes = 0;
    let s = train_dpo(cfg, |p| {
        if let Progress::Reference { .. } = p {
            passes += 1;
        }
    })
    .unwrap();
    (s, passes)
}

#[test]
fn second_run_hits_the_cache_and_changed_inputs_miss_it() {
    let tmp = tempfile::tempdir().unwrap();
    let model_a = tiny_model_dir(tmp.path(), 1);
    let model_b = tiny_model_dir(tmp.path(), 2);
    let text = std::fs::read_to_string(pairs_fixture()).unwrap();
    let lines: Vec<&str> = text.lines().take(6).collect();
    let data = tmp.path().join("pairs.jsonl");
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let cache = tmp.path().join("ref-cache");
    let cfg = |out: &str| DpoConfig {
        model: model_a.clone(),
        data: data.clone(),
        out: tmp.path().join(out),
        ref_cache: Some(cache.clone()),
        lora_rank: 2,
        batch_size: 2,
        max_steps: Some(1),
        eval_fraction: 0.0,
        max_len: 96,
        lr: 1e-2,
        ..DpoConfig::default()
    };

    let (first, passes) = run(&cfg("a"));
    assert!(
        matches!(first.reference, CacheStatus::Computed { pairs: 6, .. }),
        "{:?}",
        first.reference
    );
    assert!(passes > 0);

    // same inputs, another output directory: no reference pass, same numbers
    let (second, passes) = run(&cfg("b"));
    assert!(second.reference.is_hit(), "{:?}", second.reference);
    assert_eq!(passes, 0);
    let (x, y) = (&first.steps[0], &second.steps[0]);
    for (a, b) in [
        (x.base.loss, y.base.loss),
        (x.base.grad_norm, y.base.grad_norm),
        (x.rewards_chosen, y.rewards_chosen),
        (x.rewards_rejected, y.rewards_rejected),
    ] {
        assert_eq!(a.to_bits(), b.to_bits());
    }

    // resuming the first run reads the cache too
    let (resumed, passes) = run(&cfg("a"));
    assert_eq!((resumed.resumed_from, passes), (Some(1), 0));
    assert!(resumed.reference.is_hit());

    // changed data: a new pass
    std::fs::write(&data, lines[..5].join("\n") + "\n").unwrap();
    let (changed, passes) = run(&cfg("c"));
    assert!(
        matches!(changed.reference, CacheStatus::Computed { pairs: 5, .. }),
        "{:?}",
        changed.reference
    );
    assert!(passes > 0);
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();

    // changed model weights: a new pass
    let (other, _) = run(&DpoConfig {
        model: model_b.clone(),
        ..cfg("d")
    });
    assert!(!other.reference.is_hit(), "{:?}", other.reference);

    // changed masking option: a new pass
    let (masked, _) = run(&DpoConfig {
        mask_format_tokens: true,
        ..cfg("e")
    });
    assert!(!masked.reference.is_hit(), "{:?}", masked.reference);

    // and the original inputs still hit
    let (again, passes) = run(&cfg("f"));
    assert!(again.reference.is_hit() && passes == 0);
    let files = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(files, 4, "one cache file per distinct input set");

    // a run directory refuses to resume on other data
    std::fs::write(&data, lines[..5].join("\n") + "\n").unwrap();
    let err = train_dpo(&cfg("a"), |_| {}).unwrap_err();
    assert!(err.to_string().contains("cannot resume"), "{err}");
}

/// `--adapter`: the starting adapter keeps training and the reference is the model
/// with it (step 1's rewards are 0, while its log-probs differ from the base
/// model's); `--full` trains every weight and writes a Hugging Face directory.
#[test]
fn starting_adapter_is_the_reference_and_full_fine_tuning_writes_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model_dir(tmp.path(), 5);
    let text = std::fs::read_to_string(pairs_fixture()).unwrap();
    let data = tmp.path().join("pairs.jsonl");
    std::fs::write(
        &data,
        text.lines().take(4).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let base = DpoConfig {
        model: model.clone(),
        data: data.clone(),
        out: tmp.path().join("lora"),
        lora_rank: 2,
        lora_dropout: 0.0,
        batch_size: 2,
        epochs: 2,
        eval_fraction: 0.0,
        max_len: 96,
        lr: 5e-2,
        ..DpoConfig::default()
    };
    let (lora, _) = run(&base);
    assert_eq!(
        lora.output.as_deref(),
        Some(tmp.path().join("lora").as_path())
    );
    assert!(lora.steps[0].rewards_chosen.abs() < 1e-6);

    let (cont, passes) = run(&DpoConfig {
        adapter: Some(tmp.path().join("lora")),
        out: tmp.path().join("continued"),
        ..base.clone()
    });
    assert!(passes > 0 && !cont.reference.is_hit());
    let (s0, c0) = (&lora.steps[0], &cont.steps[0]);
    assert!(c0.rewards_chosen.abs() < 1e-5, "{}", c0.rewards_chosen);
    assert!(c0.rewards_rejected.abs() < 1e-5, "{}", c0.rewards_rejected);
    assert!(
        (c0.logps_chosen - s0.logps_chosen).abs() > 1e-3,
        "{} vs {}",
        c0.logps_chosen,
        s0.logps_chosen
    );

    let (full, _) = run(&DpoConfig {
        full: true,
        out: tmp.path().join("full"),
        lr: 1e-3,
        ..base.clone()
    });
    let dir = full.output.unwrap();
    assert_eq!(dir, tmp.path().join("full").join("model"));
    assert!(dir.join("config.json").is_file());
    assert!(full.steps.last().unwrap().base.loss < full.steps[0].base.loss);
    // the written model loads with its tokenizer
    sft::prepare::ChatTokenizer::from_hf_dir(&dir).unwrap();
    sft::finetune::load_model(&dir, &TrainMode::Frozen, &Device::Cpu).unwrap();
}
