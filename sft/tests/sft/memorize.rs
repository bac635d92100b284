//! Learning: a tiny random model memorizes a handful of sequences with AdamW,
//! warmup + cosine and clipping (loss below 0.05).

use crate::common::tiny_config;
use candle_core::{Device, Tensor};
use sft::clip::clip_grad_norm;
use sft::{AdamW, AdamWConfig, CausalLm, Decay, ForwardCtx, Schedule, TrainMode};

#[test]
fn tiny_model_memorizes_four_sequences() {
    let model = CausalLm::random(tiny_config(), 7, &TrainMode::Full, &Device::Cpu).unwrap();
    let mut rng = sft::rng::Rng::new(42);
    let ids: Vec<u32> = (0..4 * 16).map(|_| (rng.next_u64() % 64) as u32).collect();
    let ids = Tensor::from_vec(ids, (4, 16), &Device::Cpu).unwrap();
    let mask = Tensor::ones((4, 16), candle_core::DType::U32, &Device::Cpu).unwrap();
    let params = model.trainable().to_vec();
    let mut opt = AdamW::new(
        &params,
        AdamWConfig {
            lr: 1e-2,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let steps = 150;
    let sched = Schedule {
        peak_lr: 1e-2,
        warmup_steps: 10,
        total_steps: steps,
        decay: Decay::Cosine,
    };
    let mut first = None;
    let mut last = f32::MAX;
    for step in 0..steps {
        let logits = model
            .forward(&ids, None, None, &mut ForwardCtx::eval())
            .unwrap();
        let loss = sft::loss::causal_lm_loss(&logits, &ids, &mask)
            .unwrap()
            .mean()
            .unwrap();
        last = loss.to_scalar::<f32>().unwrap();
        first.get_or_insert(last);
        let mut grads = loss.backward().unwrap();
        clip_grad_norm(&mut grads, &params, 1.0).unwrap();
        opt.step(&grads, sched.lr(step)).unwrap();
    }
    eprintln!("memorize: loss {first:?} -> {last}");
    // random tokens over 64 ids start near ln 64 = 4.16
    assert!(first.unwrap() > 3.5);
    assert!(last < 0.05, "final loss {last}");
}
