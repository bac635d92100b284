//! Config variants: Llama 3 RoPE scaling, Qwen2's q/k/v biases, the GGUF Q/K
//! un-permutation.

use crate::common::{tiny_config, values};
use candle_core::{Device, Tensor};
use sft::{CausalLm, Config, ForwardCtx, TrainMode};

#[test]
fn llama3_rope_scaling_matches_hand_derivation() {
    // head_dim 10, theta 1e4: base inv_freq 10000^(-i/10) for i = 0, 2, 4, 6, 8
    //   = 1, 0.158489, 0.0251189, 0.00398107, 0.000630957,
    // wavelengths 2 pi / f = 6.28, 39.6, 250.1, 1578.3, 9958.2.
    // llama3 with factor 8, low 1, high 4, original 4096: wavelengths below
    // 4096 / 4 = 1024 keep f; above 4096 / 1 divide by 8; in between blend with
    // s = (4096 / wavelen - 1) / (4 - 1):
    //   1578.26: s = (2.595249 - 1) / 3 = 0.531750,
    //            f' = 0.00398107 * ((1 - s) / 8 + s) = 0.00234996
    //   9958.18: f' = 0.000630957 / 8 = 7.88697e-5
    let mut j = serde_json::to_value(tiny_config()).unwrap();
    j["hidden_size"] = 40.into();
    j["rope_scaling"] = serde_json::json!({
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 4096
    });
    let cfg: Config = serde_json::from_value(j).unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.head_dim(), 10);
    let got = sft::rope::inv_freq(&cfg);
    let want = [1.0, 0.158489, 0.0251189, 0.00234996, 7.88697e-5];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 2e-5 * w, "{g} vs {w}");
    }
    // the "type" alias of older configs, and an unknown kind rejected
    let mut j = serde_json::to_value(&cfg).unwrap();
    j["rope_scaling"] = serde_json::json!({"type": "yarn", "factor": 2.0});
    let bad: Config = serde_json::from_value(j).unwrap();
    assert!(bad.validate().is_err());
}

#[test]
fn qwen2_has_qkv_biases_that_train() {
    let mut j = serde_json::to_value(tiny_config()).unwrap();
    j["architectures"] = serde_json::json!(["Qwen2ForCausalLM"]);
    j["model_type"] = "qwen2".into();
    let cfg: Config = serde_json::from_value(j).unwrap();
    let model = CausalLm::random(cfg, 3, &TrainMode::Full, &Device::Cpu).unwrap();
    let names: Vec<&str> = model.trainable().iter().map(|(n, _)| n.as_str()).collect();
    for b in ["q_proj", "k_proj", "v_proj"] {
        assert!(names.contains(&format!("model.layers.1.self_attn.{b}.bias").as_str()));
    }
    assert!(!names.iter().any(|n| n.contains("o_proj.bias")));
    // biases enter the output: changing one changes the logits
    let ids = Tensor::new(&[[3u32, 9, 27, 17]], &Device::Cpu).unwrap();
    let before = values(
        &model
            .forward(&ids, None, None, &mut ForwardCtx::eval())
            .unwrap(),
    );
    let (_, bias) = model
        .trainable()
        .iter()
        .find(|(n, _)| n == "model.layers.0.self_attn.v_proj.bias")
        .unwrap();
    bias.set(&Tensor::ones(16, candle_core::DType::F32, &Device::Cpu).unwrap())
        .unwrap();
    let after = values(
        &model
            .forward(&ids, None, None, &mut ForwardCtx::eval())
            .unwrap(),
    );
    assert!(crate::common::errors(&after, &before).0 > 1e-4);
}

#[test]
fn gguf_unpermute_inverts_llama_cpp_permute() {
    // llama.cpp stores rows of one head (r0 r1 | r2 r3) interleaved as r0 r2 r1 r3:
    // permute = reshape(heads, 2, d/2, in).swapaxes(1, 2). Two heads of 4 rows,
    // row k holding the value k.
    let stored: Vec<f32> = [0., 2., 1., 3., 4., 6., 5., 7.].to_vec();
    let w = Tensor::from_vec(stored, (8, 1), &Device::Cpu).unwrap();
    let hf = sft::gguf::unpermute(&w, 2).unwrap();
    assert_eq!(values(&hf), vec![0., 1., 2., 3., 4., 5., 6., 7.]);
    assert!(sft::gguf::unpermute(&w, 3).is_err());
}

#[test]
fn transformers5_rope_parameters_are_read() {
    // transformers 5 writes `rope_parameters` instead of `rope_theta` (SmolLM2: 1e5)
    let mut j = serde_json::to_value(tiny_config()).unwrap();
    j.as_object_mut().unwrap().remove("rope_theta");
    j["rope_parameters"] = serde_json::json!({"rope_theta": 100000.0, "rope_type": "default"});
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.json");
    std::fs::write(&p, serde_json::to_string(&j).unwrap()).unwrap();
    let cfg = Config::from_file(&p).unwrap();
    assert_eq!(cfg.rope_theta, 100000.0);
    assert!(cfg.rope_scaling.is_none());
    j["rope_parameters"] = serde_json::json!({"rope_theta": 500000.0, "rope_type": "llama3",
        "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192});
    std::fs::write(&p, serde_json::to_string(&j).unwrap()).unwrap();
    let cfg = Config::from_file(&p).unwrap();
    assert_eq!(cfg.rope_theta, 500000.0);
    assert_eq!(cfg.rope_scaling.unwrap().factor, 32.0);
}
