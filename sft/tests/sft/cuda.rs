//! The CUDA training path against the CPU one (built only with `--features cuda`; run
//! on a machine with a GPU by `scripts/gpu-check.sh`).
//!
//! On the CPU, f32 training runs our fused kernels, which `parity.rs` holds to
//! transformers within 1e-4. On a GPU the same model runs candle's composed ops and
//! CUDA kernels instead, so agreement with the CPU here carries that parity over.
//! Each test fails when no CUDA device can be opened: a GPU build tested without a GPU
//! proves nothing.
//!
//! Tolerances are norm-wise (max abs error over a tensor divided by its largest CPU
//! value), as in `parity.rs`: 1e-4 for logits and gradients, 1e-5 for the loss and for
//! an AdamW step taken on identical gradients.

use crate::common::{errors, values};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};
use sft::data::Example;
use sft::rng::Rng;
use sft::{
    AdamW, AdamWConfig, CausalLm, Config, ForwardCtx, LoraConfig, LoraTarget, TrainConfig,
    TrainMode, Trainer,
};
use std::collections::HashMap;

const TOL: f64 = 1e-4;

fn gpu() -> Device {
    Device::new_cuda(0).expect("a CUDA device (this test binary was built with `cuda`)")
}

/// A Llama config with GQA (tied embeddings) or a Qwen2 one (q/k/v biases, untied),
/// large enough that every kernel runs on more than one block.
fn config(qwen2: bool) -> Config {
    let family = if qwen2 {
        serde_json::json!({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "tie_word_embeddings": false})
    } else {
        serde_json::json!({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "tie_word_embeddings": true})
    };
    let mut c = serde_json::json!({
        "vocab_size": 777,
        "hidden_size": 128,
        "intermediate_size": 344,
        "num_hidden_layers": 3,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
    });
    for (k, v) in family.as_object().expect("object") {
        c[k] = v.clone();
    }
    serde_json::from_value(c).expect("config")
}

/// A `(3, 48)` batch as `parity.rs` builds one: a full row, a right-padded row (10
/// pads, masked out of attention and loss) and two sequences packed in one row
/// (positions restart at 0). Returns ids, attention mask, positions, loss mask.
fn batch(vocab: usize, dev: &Device) -> [Tensor; 4] {
    const S: usize = 48;
    let mut rng = Rng::new(11);
    let ids: Vec<u32> = (0..3 * S)
        .map(|_| (rng.next_u64() % vocab as u64) as u32)
        .collect();
    let attn: Vec<u32> = (0..3 * S)
        .map(|i| u32::from(!(S..S + 10).contains(&i)))
        .collect();
    let pos: Vec<u32> = [
        (0..S as u32).collect::<Vec<_>>(),
        (0..S as u32).collect(),
        (0..20).chain(0..(S as u32 - 20)).collect(),
    ]
    .concat();
    let loss_mask: Vec<u32> = (0..3 * S)
        .map(|i| u32::from(attn[i] == 1 && i % S >= 5))
        .collect();
    [ids, attn, pos, loss_mask].map(|v| Tensor::from_vec(v, (3, S), dev).expect("tensor"))
}

/// The same model (same seed) on `dev`, with non-zero LoRA adapters in LoRA mode.
fn model(qwen2: bool, mode: &TrainMode, dev: &Device) -> CausalLm {
    let m = CausalLm::random(config(qwen2), 5, mode, dev).expect("model");
    if matches!(mode, TrainMode::Lora(_)) {
        // B starts at zero, which would leave A's gradient zero: set both.
        let mut rng = Rng::new(9);
        for (_, var) in m.trainable() {
            let v = rng.normal_vec(var.elem_count(), 0.05);
            var.set(&Tensor::from_vec(v, var.shape(), dev).expect("adapter"))
                .expect("set adapter");
        }
    }
    m
}

/// Logits, loss and gradients of one forward and backward on `dev`.
fn run(qwen2: bool, mode: &TrainMode, dev: &Device) -> (CausalLm, Tensor, f64, GradStore) {
    let m = model(qwen2, mode, dev);
    let [ids, attn, pos, loss_mask] = batch(m.config.vocab_size, dev);
    let logits = m
        .forward(&ids, Some(&attn), Some(&pos), &mut ForwardCtx::eval())
        .expect("forward");
    let loss = sft::loss::causal_lm_loss(&logits, &ids, &loss_mask)
        .and_then(|l| l.mean())
        .expect("loss");
    let grads = loss.backward().expect("backward");
    let l = f64::from(loss.to_scalar::<f32>().expect("scalar"));
    (m, logits, l, grads)
}

/// Runs one forward and backward on both devices and compares everything.
fn compare(qwen2: bool, mode: &TrainMode) {
    let (cpu_m, cpu_logits, cpu_loss, cpu_grads) = run(qwen2, mode, &Device::Cpu);
    let (gpu_m, gpu_logits, gpu_loss, gpu_grads) = run(qwen2, mode, &gpu());
    assert!(gpu_logits.device().is_cuda(), "the model ran on the CPU");
    let (abs, rel) = errors(&values(&gpu_logits), &values(&cpu_logits));
    eprintln!("logits: max abs {abs:.3e}, rel {rel:.3e}");
    assert!(rel < TOL, "logits rel error {rel:e}");
    let lrel = (gpu_loss - cpu_loss).abs() / cpu_loss;
    eprintln!("loss {gpu_loss} vs {cpu_loss} (rel {lrel:.3e})");
    assert!(lrel < 1e-5, "loss rel error {lrel:e}");
    let gpu_vars: HashMap<&str, &candle_core::Var> = gpu_m
        .trainable()
        .iter()
        .map(|(n, v)| (n.as_str(), v))
        .collect();
    assert!(!cpu_m.trainable().is_empty());
    let mut worst = 0f64;
    for (name, var) in cpu_m.trainable() {
        let want = cpu_grads.get(var.as_tensor()).expect("CPU gradient");
        let got = gpu_grads
            .get(gpu_vars[name.as_str()].as_tensor())
            .unwrap_or_else(|| panic!("no CUDA gradient for {name}"));
        let want = values(want);
        assert!(
            want.iter().any(|v| *v != 0.0),
            "{name}: zero gradient, nothing compared"
        );
        let (_, rel) = errors(&values(got), &want);
        assert!(rel < TOL, "{name}: gradient rel error {rel:e}");
        worst = worst.max(rel);
    }
    eprintln!(
        "{} gradients: worst rel {worst:.3e}",
        cpu_m.trainable().len()
    );
}

#[test]
fn full_llama_logits_loss_and_gradients_match_the_cpu() {
    compare(false, &TrainMode::Full);
}

#[test]
fn full_qwen2_logits_loss_and_gradients_match_the_cpu() {
    compare(true, &TrainMode::Full);
}

#[test]
fn lora_logits_loss_and_gradients_match_the_cpu() {
    let lc = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: LoraTarget::ALL.to_vec(),
        seed: 3,
    };
    compare(false, &TrainMode::Lora(lc));
}

/// AdamW on CUDA (composed ops) takes the same step as on the CPU (the fused kernel)
/// from identical gradients, over three steps with weight decay.
#[test]
fn adamw_steps_match_the_cpu() {
    let (cpu_m, _, _, cpu_grads) = run(false, &TrainMode::Full, &Device::Cpu);
    let dev = gpu();
    // A store from a CUDA backward, each gradient then replaced by the CPU's.
    let (gpu_m, _, _, mut gpu_grads) = run(false, &TrainMode::Full, &dev);
    for ((_, c), (_, g)) in cpu_m.trainable().iter().zip(gpu_m.trainable()) {
        let grad = cpu_grads.get(c.as_tensor()).expect("gradient");
        gpu_grads.insert(g.as_tensor(), grad.to_device(&dev).expect("to GPU"));
    }
    let before: Vec<Vec<f64>> = cpu_m
        .trainable()
        .iter()
        .map(|(_, v)| values(v.as_tensor()))
        .collect();
    let cfg = AdamWConfig {
        lr: 1e-3,
        weight_decay: 0.1,
        ..AdamWConfig::default()
    };
    let mut cpu_opt = AdamW::new(cpu_m.trainable(), cfg).expect("optimizer");
    let mut gpu_opt = AdamW::new(gpu_m.trainable(), cfg).expect("optimizer");
    for _ in 0..3 {
        cpu_opt.step(&cpu_grads, 1e-3).expect("CPU step");
        gpu_opt.step(&gpu_grads, 1e-3).expect("CUDA step");
    }
    let mut worst = 0f64;
    for (((name, c), (_, g)), b) in cpu_m.trainable().iter().zip(gpu_m.trainable()).zip(&before) {
        // Compare the updates, not the weights: the step is small next to a weight.
        let delta = |v: &candle_core::Var| -> Vec<f64> {
            values(v.as_tensor())
                .iter()
                .zip(b)
                .map(|(a, b)| a - b)
                .collect()
        };
        let want = delta(c);
        assert!(want.iter().any(|d| *d != 0.0), "{name} did not move");
        let (_, rel) = errors(&delta(g), &want);
        assert!(rel < 1e-5, "{name}: update rel error {rel:e}");
        worst = worst.max(rel);
    }
    eprintln!("AdamW updates: worst rel {worst:.3e}");
}

/// Two steps of the real training loop on CUDA report the CPU's losses and gradient
/// norms and write a checkpoint.
#[test]
fn training_loop_on_cuda_follows_the_cpu() {
    let mut rng = Rng::new(21);
    let examples: Vec<Example> = (0..8)
        .map(|i| {
            let n = 24 + 3 * i;
            Example {
                input_ids: (0..n).map(|_| (rng.next_u64() % 777) as u32).collect(),
                loss_mask: (0..n).map(|j| u8::from(j >= 4)).collect(),
                position_ids: None,
            }
        })
        .collect();
    let train = |dev: &Device| {
        let out = tempfile::tempdir().expect("tempdir");
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: 4,
            max_grad_norm: Some(1.0),
            adamw: AdamWConfig {
                lr: 1e-3,
                ..AdamWConfig::default()
            },
            ..TrainConfig::default()
        };
        let m = CausalLm::random(config(false), 5, &TrainMode::Full, dev).expect("model");
        let mut t = Trainer::new(m, cfg, examples.len(), out.path()).expect("trainer");
        let metrics = t.run(&examples, &[], None).expect("run");
        assert!(
            std::fs::read_dir(out.path())
                .expect("out dir")
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("checkpoint")),
            "no checkpoint written"
        );
        metrics
    };
    let cpu = train(&Device::Cpu);
    let gpu = train(&gpu());
    assert_eq!(cpu.len(), 2);
    assert_eq!(gpu.len(), cpu.len());
    for (c, g) in cpu.iter().zip(&gpu) {
        eprintln!(
            "step {}: loss {} vs {}, grad norm {} vs {}",
            c.step, g.loss, c.loss, g.grad_norm, c.grad_norm
        );
        assert!((g.loss - c.loss).abs() / c.loss < 1e-4, "step {}", c.step);
        assert!(
            (g.grad_norm - c.grad_norm).abs() / c.grad_norm < 1e-3,
            "step {}",
            c.step
        );
    }
}

/// The grouped cross-entropy behind DPO's sequence log-probabilities off the CPU
/// (`sft::recompute`, whose CPU tests hold it to the composed ops): the same sums and
/// logit gradients on CUDA as on the CPU.
#[test]
fn grouped_cross_entropy_matches_the_cpu() {
    let (n, vocab, groups) = (96, 1000, 4);
    let mut rng = Rng::new(31);
    let logits = rng.normal_vec(n * vocab, 3.0);
    let targets: Vec<u32> = (0..n)
        .map(|_| (rng.next_u64() % vocab as u64) as u32)
        .collect();
    let weights: Vec<f32> = (0..n).map(|i| f32::from(u8::from(i % 7 != 3))).collect();
    let group: Vec<u32> = (0..n as u32)
        .map(|i| i * groups as u32 / n as u32)
        .collect();
    let run = |dev: &Device| {
        let x = candle_core::Var::from_vec(logits.clone(), (n, vocab), dev).expect("logits");
        let t = |v: &[u32]| Tensor::new(v, dev).expect("ids");
        let sums = sft::recompute::cross_entropy_grouped(
            &x,
            &t(&targets),
            &Tensor::new(weights.as_slice(), dev).expect("weights"),
            &t(&group),
            groups,
        )
        .expect("cross-entropy");
        let upstream = Tensor::new(&[0.5f32, -2.0, 1.0, 3.0], dev).expect("upstream");
        let grads = (&sums * upstream)
            .and_then(|p| p.sum_all())
            .and_then(|l| l.backward())
            .expect("backward");
        (values(&sums), values(grads.get(&x).expect("gradient")))
    };
    let (cpu_sums, cpu_grad) = run(&Device::Cpu);
    let (gpu_sums, gpu_grad) = run(&gpu());
    let (_, rel) = errors(&gpu_sums, &cpu_sums);
    let (_, grel) = errors(&gpu_grad, &cpu_grad);
    eprintln!("grouped cross-entropy: sums rel {rel:.3e}, gradient rel {grel:.3e}");
    assert!(rel < 1e-5 && grel < 1e-5, "sums {rel:e}, gradient {grel:e}");
}
