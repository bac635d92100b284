//! LoRA: the scale applies to the delta only, and merging gives the same logits.

use crate::common::{errors, tiny_config, values};
use candle_core::{Device, Tensor};
use sft::{CausalLm, ForwardCtx, LoraConfig, TrainMode};

fn ids() -> Tensor {
    let v: Vec<u32> = (0..3 * 9).map(|i| (i * 11 + 5) % 64).collect();
    Tensor::from_vec(v, (3, 9), &Device::Cpu).unwrap()
}

fn lora_model(alpha: f64) -> CausalLm {
    let lc = LoraConfig {
        rank: 4,
        alpha,
        dropout: 0.0,
        ..Default::default()
    };
    let model = CausalLm::random(tiny_config(), 5, &TrainMode::Lora(lc), &Device::Cpu).unwrap();
    let mut rng = sft::rng::Rng::new(11);
    for (name, v) in model.trainable() {
        if name.contains("lora_B") {
            let n = v.as_tensor().elem_count();
            v.set(&Tensor::from_vec(rng.normal_vec(n, 0.2), v.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    model
}

fn logits(m: &CausalLm) -> Vec<f64> {
    values(
        &m.forward(&ids(), None, None, &mut ForwardCtx::eval())
            .unwrap(),
    )
}

#[test]
fn merged_logits_equal_adapter_logits() {
    let mut model = lora_model(8.0);
    let with_adapter = logits(&model);
    let base =
        logits(&CausalLm::random(tiny_config(), 5, &TrainMode::Frozen, &Device::Cpu).unwrap());
    // the adapter must matter, or the comparison says nothing
    assert!(errors(&with_adapter, &base).0 > 1e-3);
    model.merge_lora().unwrap();
    assert!(model.trainable().is_empty());
    let merged = logits(&model);
    let (abs, rel) = errors(&merged, &with_adapter);
    eprintln!("merge: max abs {abs:.3e}, rel {rel:.3e}");
    assert!(abs < 1e-5, "merged vs adapter max abs error {abs:e}");
}

#[test]
fn lora_scale_multiplies_only_the_delta() {
    // y = base + (alpha / r) * delta, so with alphas 4 and 8 (scales 1 and 2):
    // y8 - base = 2 * (y4 - base), computed on one projection directly.
    let x = Tensor::from_vec(
        (0..2 * 32).map(|i| (i as f32 * 0.37).sin()).collect(),
        (2, 32),
        &Device::Cpu,
    )
    .unwrap();
    let m4 = lora_model(4.0);
    let m8 = lora_model(8.0);
    let q4 = &m4.layers[0].self_attn.q_proj;
    let q8 = &m8.layers[0].self_attn.q_proj;
    let mut ctx = ForwardCtx::eval();
    let base = values(&x.matmul(&q4.weight.t().unwrap()).unwrap());
    let y4 = values(&q4.forward(&x, &mut ctx).unwrap());
    let y8 = values(&q8.forward(&x, &mut ctx).unwrap());
    let d4: Vec<f64> = y4.iter().zip(&base).map(|(y, b)| 2.0 * (y - b)).collect();
    let d8: Vec<f64> = y8.iter().zip(&base).map(|(y, b)| y - b).collect();
    assert!(d8.iter().any(|d| d.abs() > 1e-3));
    assert!(errors(&d8, &d4).0 < 1e-5);
}

#[test]
fn adapter_saves_in_peft_layout_and_reloads() {
    let lc = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        ..Default::default()
    };
    let model = lora_model(8.0);
    let dir = tempfile::tempdir().unwrap();
    sft::peft::save_adapter(&model, &lc, dir.path()).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 4);
    assert_eq!(cfg["lora_alpha"], 8.0);
    let st =
        sft::weights::load_safetensors(&dir.path().join("adapter_model.safetensors"), &Device::Cpu)
            .unwrap();
    // 2 layers x 7 targets x (A, B)
    assert_eq!(st.len(), 28);
    let a = &st["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"];
    assert_eq!(a.dims(), [4, 32]);
    let b = &st["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"];
    assert_eq!(b.dims(), [32, 4]);

    let mut fresh = CausalLm::random(tiny_config(), 5, &TrainMode::Frozen, &Device::Cpu).unwrap();
    let loaded = sft::peft::load_adapter(&mut fresh, dir.path()).unwrap();
    assert_eq!(loaded.rank, 4);
    assert_eq!(logits(&fresh), logits(&model));
}
