//! The training loop resumes exactly: 20 steps straight equal 10 steps, a "kill", a
//! resume and 10 more, bit for bit; interrupted or damaged checkpoints are skipped;
//! a checkpoint from a different run is refused.

use crate::common::{tiny_config, values};
use candle_core::Device;
use sft::{
    AdamWConfig, CausalLm, Decay, Example, LoraConfig, SftError, TrainConfig, TrainMode, Trainer,
};
use std::path::Path;

fn data() -> Vec<Example> {
    let mut rng = sft::rng::Rng::new(77);
    (0..16)
        .map(|i| {
            let n = 6 + i % 5;
            let input_ids: Vec<u32> = (0..n).map(|_| (rng.next_u64() % 64) as u32).collect();
            // prompt (first 3 tokens) not learned
            let loss_mask = (0..n).map(|t| u8::from(t >= 3)).collect();
            Example {
                input_ids,
                loss_mask,
                position_ids: None,
            }
        })
        .collect()
}

fn cfg(lr: f64) -> TrainConfig {
    TrainConfig {
        epochs: 5,
        batch_size: 2,
        grad_accum: 2,
        adamw: AdamWConfig {
            lr,
            weight_decay: 0.01,
            ..Default::default()
        },
        warmup_steps: 3,
        decay: Decay::Cosine,
        max_grad_norm: Some(1.0),
        seed: 3,
        save_every: 5,
        keep_last: 2,
        eval_every: 5,
        pad_id: 0,
    }
}

fn trainer(out: &Path, lr: f64) -> Trainer {
    let lc = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.1,
        seed: 1,
        ..Default::default()
    };
    let model = CausalLm::random(tiny_config(), 8, &TrainMode::Lora(lc), &Device::Cpu).unwrap();
    Trainer::new(model, cfg(lr), 16, out).unwrap()
}

fn trained(t: &Trainer) -> Vec<Vec<f64>> {
    t.model()
        .trainable()
        .iter()
        .map(|(_, v)| values(v.as_tensor()))
        .collect()
}

#[test]
fn ten_plus_ten_steps_after_a_kill_equal_twenty_straight() {
    let (train, eval) = (data(), data()[..4].to_vec());
    let a_dir = tempfile::tempdir().unwrap();
    let mut a = trainer(a_dir.path(), 5e-3);
    assert_eq!(a.total_steps(), 20);
    let straight = a.run(&train, &eval, None).unwrap();
    assert_eq!(straight.len(), 20);
    assert!(
        straight[19].loss < straight[0].loss,
        "training must move the loss"
    );

    let b_dir = tempfile::tempdir().unwrap();
    let mut b = trainer(b_dir.path(), 5e-3);
    let first = b.run(&train, &eval, Some(10)).unwrap();
    drop(b); // the "kill": nothing survives but the output directory
    // a checkpoint interrupted before its rename, one renamed but missing state.json,
    // and one whose state.json is damaged: all must be passed over for checkpoint-10
    let out = b_dir.path();
    std::fs::create_dir_all(out.join(".tmp-checkpoint-15")).unwrap();
    std::fs::write(
        out.join(".tmp-checkpoint-15/trainable.safetensors"),
        b"partial",
    )
    .unwrap();
    std::fs::create_dir_all(out.join("checkpoint-14")).unwrap();
    std::fs::copy(
        out.join("checkpoint-10/trainable.safetensors"),
        out.join("checkpoint-14/trainable.safetensors"),
    )
    .unwrap();
    std::fs::create_dir_all(out.join("checkpoint-13")).unwrap();
    for f in ["trainable.safetensors", "optimizer.safetensors"] {
        std::fs::copy(
            out.join("checkpoint-10").join(f),
            out.join("checkpoint-13").join(f),
        )
        .unwrap();
    }
    std::fs::write(
        out.join("checkpoint-13/state.json"),
        b"{\"version\": 1, \"st",
    )
    .unwrap();

    let mut c = trainer(out, 5e-3);
    assert_eq!(c.resume().unwrap(), Some(10));
    let second = c.run(&train, &eval, None).unwrap();
    let resumed: Vec<StepLoss> = first.iter().chain(&second).map(StepLoss::from).collect();
    let expected: Vec<StepLoss> = straight.iter().map(StepLoss::from).collect();
    assert_eq!(resumed, expected);
    assert_eq!(trained(&c), trained(&a));
    // metrics.jsonl holds each step once
    let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = lines
        .lines()
        .map(|l| serde_json::from_str::<sft::StepMetrics>(l).unwrap().step)
        .collect();
    assert_eq!(steps, (1..=20).collect::<Vec<_>>());
    assert!(second.last().unwrap().eval_loss.is_some());
}

/// The numbers a resumed run must reproduce exactly.
#[derive(Debug, PartialEq)]
struct StepLoss {
    step: u64,
    loss: u64,
    grad_norm: u64,
    lr: u64,
    tokens: u64,
}

impl From<&sft::StepMetrics> for StepLoss {
    fn from(m: &sft::StepMetrics) -> Self {
        StepLoss {
            step: m.step,
            loss: m.loss.to_bits(),
            grad_norm: m.grad_norm.to_bits(),
            lr: m.learning_rate.to_bits(),
            tokens: m.num_tokens,
        }
    }
}

#[test]
fn checkpoint_of_another_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = trainer(dir.path(), 5e-3);
    t.run(&data(), &[], Some(5)).unwrap();
    let mut other = trainer(dir.path(), 1e-3);
    match other.resume() {
        Err(SftError::Checkpoint { .. }) => {}
        r => panic!("expected a checkpoint error, got {r:?}"),
    }
}

#[test]
fn nan_learning_rate_and_empty_mask_fail_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let model = CausalLm::random(tiny_config(), 8, &TrainMode::Full, &Device::Cpu).unwrap();
    assert!(Trainer::new(model, cfg(f64::NAN), 16, dir.path()).is_err());
    let mut t = trainer(dir.path(), 5e-3);
    let mut bad = data();
    bad[7].loss_mask = vec![0; bad[7].input_ids.len()];
    let err = t.run(&bad, &[], None).unwrap_err();
    assert!(err.to_string().contains("example 7"), "{err}");
    assert_eq!(t.step(), 0);
    assert!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0)
            == 0
    );
}

#[test]
fn accumulation_is_normalized_by_trained_tokens() {
    // 2 micro-batches of 2 must equal 1 batch of 4: the step's loss is the mean over
    // all its trained tokens, not the mean of per-micro-batch means (the examples
    // have different lengths, so the two differ). Padding differs between the two
    // splits, so equality is up to f32 rounding.
    let run = |batch_size: usize, grad_accum: usize| {
        let dir = tempfile::tempdir().unwrap();
        let lc = LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            seed: 1,
            ..Default::default()
        };
        let model = CausalLm::random(tiny_config(), 8, &TrainMode::Lora(lc), &Device::Cpu).unwrap();
        let c = TrainConfig {
            batch_size,
            grad_accum,
            epochs: 1,
            save_every: 0,
            eval_every: 0,
            ..cfg(5e-3)
        };
        let mut t = Trainer::new(model, c, 16, dir.path()).unwrap();
        let m = t.run(&data(), &[], None).unwrap();
        (m, trained(&t))
    };
    let (m_acc, w_acc) = run(2, 2);
    let (m_one, w_one) = run(4, 1);
    assert_eq!(m_acc.len(), 4);
    for (a, b) in m_acc.iter().zip(&m_one) {
        assert!((a.loss - b.loss).abs() < 1e-6, "{} vs {}", a.loss, b.loss);
        assert!((a.grad_norm - b.grad_norm).abs() < 1e-6 * b.grad_norm.max(1.0));
        assert_eq!(a.num_tokens, b.num_tokens);
    }
    for (a, b) in w_acc.iter().zip(&w_one) {
        assert!(crate::common::errors(a, b).0 < 1e-6);
    }
}
