//! Models and PEFT adapters written by transformers/PEFT load here and reproduce
//! their logits. Fixtures: `sft/fixtures/tiny/{llama,qwen2}{,_lora}`, written by
//! `sft/fixtures/make_tiny_models.py` (torch 2.15.0, transformers 5.24.0, peft 0.21.2):
//! random weights (std 0.3), untied heads, GQA; the Llama one uses llama3 RoPE
//! scaling with `original_max_position_embeddings` 64 so the scaled and blended
//! frequency bands both matter; the Qwen2 one has q/k/v biases and theta 1e6.
//! Tolerance: 1e-5 relative (max abs error / max abs logit).

use crate::common::{errors, values};
use candle_core::{Device, Tensor};
use serde::Deserialize;
use sft::{CausalLm, ForwardCtx, TrainMode};
use std::path::PathBuf;

#[derive(Deserialize)]
struct Expected {
    input_ids: Vec<Vec<u32>>,
    attention_mask: Vec<Vec<u32>>,
    base: Vec<Vec<Vec<f64>>>,
    adapter: Vec<Vec<Vec<f64>>>,
}

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tiny")
        .join(name)
}

/// Our logits at the real positions of each row vs the reference; returns the
/// relative error.
fn compare(model: &CausalLm, exp: &Expected, want: &[Vec<Vec<f64>>]) -> f64 {
    let ids = Tensor::new(exp.input_ids.clone(), &Device::Cpu).unwrap();
    let attn = Tensor::new(exp.attention_mask.clone(), &Device::Cpu).unwrap();
    let logits = model
        .forward(&ids, Some(&attn), None, &mut ForwardCtx::eval())
        .unwrap();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for (row, w) in want.iter().enumerate() {
        let l = logits.get(row).unwrap().narrow(0, 0, w.len()).unwrap();
        ours.extend(values(&l));
        theirs.extend(w.iter().flatten());
    }
    errors(&ours, &theirs).1
}

fn check(name: &str) {
    let exp: Expected =
        serde_json::from_str(&std::fs::read_to_string(dir(name).join("expected.json")).unwrap())
            .unwrap();
    let (cfg, weights) = sft::weights::load_hf_dir(&dir(name), &Device::Cpu).unwrap();
    let mut model =
        CausalLm::from_weights(cfg, &weights, &TrainMode::Frozen, &Device::Cpu).unwrap();
    let rel = compare(&model, &exp, &exp.base);
    eprintln!("{name} base: rel {rel:.3e}");
    assert!(rel < 1e-5, "{name} base logits rel error {rel:e}");
    let lc = sft::peft::load_adapter(&mut model, &dir(&format!("{name}_lora"))).unwrap();
    assert_eq!((lc.rank, lc.alpha, lc.targets.len()), (2, 6.0, 7));
    let rel = compare(&model, &exp, &exp.adapter);
    eprintln!("{name} adapter: rel {rel:.3e}");
    assert!(rel < 1e-5, "{name} adapter logits rel error {rel:e}");
    // the adapter must change the output for this to mean anything
    let base: Vec<f64> = exp.base.iter().flatten().flatten().copied().collect();
    let adapted: Vec<f64> = exp.adapter.iter().flatten().flatten().copied().collect();
    assert!(errors(&adapted, &base).1 > 1e-2);
    model.merge_lora().unwrap();
    let rel = compare(&model, &exp, &exp.adapter);
    assert!(rel < 1e-5, "{name} merged logits rel error {rel:e}");
}

#[test]
fn transformers_llama_with_llama3_rope_and_peft_adapter_reproduce() {
    check("llama");
}

#[test]
fn transformers_qwen2_with_biases_and_peft_adapter_reproduce() {
    check("qwen2");
}
