//! Every trainable parameter receives a non-zero gradient; frozen ones receive none.

use crate::common::tiny_config;
use candle_core::{Device, Tensor};
use sft::{CausalLm, ForwardCtx, LoraConfig, TrainMode};

fn batch() -> (Tensor, Tensor) {
    let ids: Vec<u32> = (0..2 * 10).map(|i| (i * 7 + 3) % 64).collect();
    let ids = Tensor::from_vec(ids, (2, 10), &Device::Cpu).unwrap();
    let mask = Tensor::ones((2, 10), candle_core::DType::U32, &Device::Cpu).unwrap();
    (ids, mask)
}

fn nonzero(t: &Tensor) -> bool {
    crate::common::values(
        &t.abs()
            .unwrap()
            .max_keepdim(0)
            .unwrap()
            .flatten_all()
            .unwrap(),
    )
    .iter()
    .any(|&x| x > 0.0)
}

#[test]
fn full_finetune_gives_every_parameter_a_gradient() {
    let mut cfg = tiny_config();
    cfg.tie_word_embeddings = false;
    let model = CausalLm::random(cfg, 1, &TrainMode::Full, &Device::Cpu).unwrap();
    let (ids, mask) = batch();
    let logits = model
        .forward(&ids, None, None, &mut ForwardCtx::eval())
        .unwrap();
    let loss = sft::loss::causal_lm_loss(&logits, &ids, &mask)
        .unwrap()
        .mean()
        .unwrap();
    let grads = loss.backward().unwrap();
    // 2 layers x 9 tensors + embed + norm + lm_head
    assert_eq!(model.trainable().len(), 2 * 9 + 3);
    for (name, v) in model.trainable() {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        assert!(nonzero(g), "{name}: zero gradient");
    }
}

#[test]
fn lora_gives_adapters_gradients_and_base_weights_none() {
    let lc = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.1,
        ..Default::default()
    };
    let model = CausalLm::random(tiny_config(), 2, &TrainMode::Lora(lc), &Device::Cpu).unwrap();
    // PEFT starts B at zero, which zeroes A's gradient; give B values first.
    let mut rng = sft::rng::Rng::new(9);
    for (name, v) in model.trainable() {
        if name.contains("lora_B") {
            let n = v.as_tensor().elem_count();
            let t = Tensor::from_vec(rng.normal_vec(n, 0.1), v.shape(), &Device::Cpu).unwrap();
            v.set(&t).unwrap();
        }
    }
    let (ids, mask) = batch();
    let mut ctx = ForwardCtx::train(sft::rng::Rng::new(3));
    let logits = model.forward(&ids, None, None, &mut ctx).unwrap();
    let loss = sft::loss::causal_lm_loss(&logits, &ids, &mask)
        .unwrap()
        .mean()
        .unwrap();
    let grads = loss.backward().unwrap();
    // 2 layers x 7 targets x (A, B)
    assert_eq!(model.trainable().len(), 28);
    for (name, v) in model.trainable() {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        assert!(nonzero(g), "{name}: zero gradient");
    }
    let weights = model.named_weights();
    assert_eq!(weights.len(), 2 * 9 + 2);
    for (name, w) in weights {
        assert!(grads.get(&w).is_none(), "frozen {name} got a gradient");
    }
}
