//! The DPO trainer resumes exactly (as `sft`'s loop does): 12 steps straight equal
//! 5 steps, a "kill", a resume from the checkpoint and 7 more, bit for bit, on a tiny
//! random Llama with LoRA dropout on (so the restored RNG state matters too). A
//! checkpoint of a run with other settings is refused.

use candle_core::Device;
use dpo::{DpoError, DpoTrainer, PreferenceLossConfig, RefLogps, TokenizedPair};
use sft::{AdamWConfig, CausalLm, Config, Decay, LoraConfig, TrainConfig, TrainMode};
use std::path::Path;

fn tiny_config() -> Config {
    serde_json::from_value(serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 64,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": true
    }))
    .unwrap()
}

fn pairs() -> (Vec<TokenizedPair>, Vec<RefLogps>) {
    let mut rng = sft::rng::Rng::new(5);
    let mut tok = |n: usize| -> Vec<u32> { (0..n).map(|_| (rng.next_u64() % 64) as u32).collect() };
    let ps: Vec<TokenizedPair> = (0..10)
        .map(|i| {
            let (c, r) = (2 + i % 3, 3 + i % 2);
            TokenizedPair {
                line: i as u64 + 1,
                prompt_ids: tok(3 + i % 4),
                chosen_ids: tok(c),
                chosen_mask: vec![1; c],
                rejected_ids: tok(r),
                rejected_mask: vec![1; r],
            }
        })
        .collect();
    let refs = (0..10)
        .map(|i| RefLogps {
            chosen: -10.0 - i as f64 * 0.5,
            rejected: -11.0 + i as f64 * 0.25,
        })
        .collect();
    (ps, refs)
}

fn trainer(out: &Path, lr: f64) -> DpoTrainer {
    let lc = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.1,
        seed: 2,
        ..Default::default()
    };
    let model = CausalLm::random(tiny_config(), 9, &TrainMode::Lora(lc), &Device::Cpu).unwrap();
    let cfg = TrainConfig {
        epochs: 4,
        batch_size: 2,
        grad_accum: 2,
        adamw: AdamWConfig {
            lr,
            weight_decay: 0.01,
            ..Default::default()
        },
        warmup_steps: 2,
        decay: Decay::Cosine,
        max_grad_norm: Some(1.0),
        seed: 4,
        save_every: 5,
        keep_last: 2,
        eval_every: 4,
        pad_id: 0,
    };
    let loss = PreferenceLossConfig::llama3();
    DpoTrainer::new(model, cfg, loss, 10, out, "test-run").unwrap()
}

#[test]
fn resume_reproduces_a_straight_run() {
    let (train, refs) = pairs();
    let (eval, eval_refs) = (train[..3].to_vec(), refs[..3].to_vec());
    let a = tempfile::tempdir().unwrap();
    let mut straight = trainer(a.path(), 5e-3);
    assert_eq!(straight.total_steps(), 12);
    let all = straight
        .run(&train, &refs, &eval, &eval_refs, None)
        .unwrap();
    assert_eq!(all.len(), 12);
    // the model moves (held-out loss on the same pairs at steps 4 and 12 differs), so
    // the comparison below can fail
    let eval_loss = |i: usize| all[i].eval.as_ref().unwrap().eval_loss;
    assert!(
        (eval_loss(11) - eval_loss(3)).abs() > 1e-4,
        "{} vs {}",
        eval_loss(3),
        eval_loss(11)
    );

    let b = tempfile::tempdir().unwrap();
    let mut first = trainer(b.path(), 5e-3);
    let part1 = first
        .run(&train, &refs, &eval, &eval_refs, Some(5))
        .unwrap();
    drop(first); // "killed" after the step-5 checkpoint
    let mut second = trainer(b.path(), 5e-3);
    assert_eq!(second.resume().unwrap(), Some(5));
    let part2 = second.run(&train, &refs, &eval, &eval_refs, None).unwrap();
    let resumed: Vec<_> = part1.iter().chain(&part2).collect();
    assert_eq!(resumed.len(), 12);
    for (x, y) in all.iter().zip(resumed) {
        assert_eq!(
            x.base.loss.to_bits(),
            y.base.loss.to_bits(),
            "step {}",
            x.base.step
        );
        assert_eq!(x.base.grad_norm.to_bits(), y.base.grad_norm.to_bits());
        assert_eq!(x.rewards_margins.to_bits(), y.rewards_margins.to_bits());
        assert_eq!(x.eval, y.eval);
    }
    // metrics.jsonl holds each step once, with TRL's names, after the resume
    let text = std::fs::read_to_string(b.path().join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
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
        assert!(lines[0].get(key).is_some(), "missing {key}: {}", lines[0]);
    }
    assert!(lines[3].get("eval_rewards/accuracies").is_some());
    assert_eq!(
        lines[3]["eval_loss"].as_f64(),
        Some(all[3].eval.as_ref().unwrap().eval_loss)
    );
    // `distill plot` reads the same file
    assert_eq!(
        sft::plot::read_metrics(&b.path().join("metrics.jsonl"))
            .unwrap()
            .len(),
        12
    );

    // another learning rate is another run
    let mut other = trainer(b.path(), 1e-3);
    assert!(matches!(other.resume(), Err(DpoError::Resume { .. })));
}
