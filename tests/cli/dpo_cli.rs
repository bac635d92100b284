//! `distill dpo` end to end on a tiny random Llama with SmolLM2's tokenizer and chat
//! template (a Hugging Face directory built here; the tokenizer comes from the cached
//! GGUF): a TOML config with flags over it, the loss list with weights, a bad pair
//! skipped in lenient mode and reported with its line, the reference pass then a cache
//! hit on resume, metrics with TRL's names (plotted by `distill plot`), a PEFT adapter
//! at the end, and strict mode exiting 2 with one `error:` line naming file and line.

use crate::harness::{distill, installed_store, output, stderr, write};
use std::path::{Path, PathBuf};

fn smollm2() -> PathBuf {
    installed_store()
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the cache (run `distill setup` or set DISTILL_CACHE)")
}

/// A 1-layer random Llama with SmolLM2's vocabulary, saved with its tokenizer files.
fn tiny_model(dir: &Path) -> PathBuf {
    let cfg: sft::Config = serde_json::from_value(serde_json::json!({
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
    let device = sft::finetune::device().unwrap();
    let model = sft::CausalLm::random(cfg, 3, &sft::TrainMode::Frozen, &device).unwrap();
    let tok = sft::prepare::ChatTokenizer::from_gguf(&smollm2()).unwrap();
    let out = dir.join("tiny-model");
    sft::finetune::save_model_dir(&model, &tok, &smollm2(), &out).unwrap();
    out
}

/// Six good pairs (TRL conversational and standard shapes) with a bad one at line 4.
fn data() -> String {
    let mut lines: Vec<String> = (0..5)
        .map(|i| {
            serde_json::json!({
                "prompt": [{"role": "user", "content": format!("Write f{i}().")}],
                "chosen": [{"role": "assistant", "content": format!("def f{i}():\n    return {i}")}],
                "rejected": [{"role": "assistant", "content": format!("def f{i}():\n    pass")}],
            })
            .to_string()
        })
        .collect();
    lines.insert(
        3,
        r#"{"prompt":"Q","chosen":" same","rejected":" same"}"#.to_string(),
    );
    lines.push(r#"{"prompt":"2+2=","chosen":" 4","rejected":" 5"}"#.to_string());
    lines.join("\n") + "\n"
}

#[test]
fn dpo_trains_caches_the_reference_resumes_and_reports_bad_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let data = write(dir.path(), "dpo.jsonl", data());
    let config = write(
        dir.path(),
        "dpo.toml",
        "beta = 0.2\nloss = [\"sigmoid\", \"sft\"]\nloss-weights = [1.0, 0.2]\nlora-rank = 2\nbatch-size = 2\nmax-len = 96\neval-fraction = 0.0\nsave-every = 1\nlr = 1e-2\n",
    );
    let out_dir = dir.path().join("run");
    let run = |extra: &[&str]| {
        output(
            distill()
                .arg("dpo")
                .arg("--config")
                .arg(&config)
                .arg("--model")
                .arg(&model)
                .arg("--data")
                .arg(&data)
                .arg("--out")
                .arg(&out_dir)
                .args(["--epochs", "2"])
                .args(extra),
        )
    };

    // 6 good pairs at 2 per step, 2 epochs: 6 steps. Stop after 2, then resume.
    let first = run(&["--lenient", "--max-steps", "2"]);
    let err = stderr(&first);
    assert!(first.status.success(), "{err}");
    assert!(
        err.contains("reference log-probs: computed for 6 pairs"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "skipped: {}:4: rejected: identical",
            data.display()
        )),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(stdout.contains("2 new steps, 2/6 done"), "{stdout}");
    assert!(!out_dir.join("adapter_model.safetensors").exists());

    let second = run(&["--lenient"]);
    let err = stderr(&second);
    assert!(second.status.success(), "{err}");
    assert!(err.contains("reference log-probs: cache hit"), "{err}");
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(
        stdout.contains("4 new steps, 6/6 done (resumed at 2)"),
        "{stdout}"
    );
    assert!(out_dir.join("adapter_model.safetensors").is_file());
    assert!(out_dir.join("adapter_config.json").is_file());

    let metrics: Vec<serde_json::Value> = std::fs::read_to_string(out_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<u64> = metrics
        .iter()
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2, 3, 4, 5, 6]);
    for key in [
        "loss",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/accuracies",
        "rewards/margins",
        "logps/chosen",
        "logps/rejected",
        "nll_loss",
        "grad_norm",
        "learning_rate",
        "tokens_per_sec",
    ] {
        assert!(metrics.iter().all(|m| m[key].is_number()), "{key}");
    }

    // `distill plot` draws the run's curves
    let plot = output(distill().arg("plot").arg(&out_dir));
    assert!(plot.status.success(), "{}", stderr(&plot));
    assert!(out_dir.join("metrics.png").is_file());

    // strict mode: the bad pair is an error naming file and line
    let strict = output(
        distill()
            .arg("dpo")
            .arg("--model")
            .arg(&model)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(dir.path().join("strict")),
    );
    assert_eq!(strict.status.code(), Some(2));
    let err = stderr(&strict);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&format!("{}:4: rejected", data.display())),
        "{}",
        lines[0]
    );
}
