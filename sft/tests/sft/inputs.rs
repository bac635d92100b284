//! Bad input is a clear error before any training: config fields, architectures,
//! tensor shapes, empty loss masks.

use crate::common::tiny_config;
use candle_core::{Device, Tensor};
use sft::{CausalLm, SftError, TrainMode};
use std::collections::HashMap;

fn write_config(dir: &std::path::Path, json: serde_json::Value) -> std::path::PathBuf {
    let p = dir.join("config.json");
    std::fs::write(&p, serde_json::to_string(&json).unwrap()).unwrap();
    p
}

#[test]
fn config_missing_field_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(
        dir.path(),
        serde_json::json!({"model_type": "llama", "vocab_size": 10}),
    );
    let err = sft::Config::from_file(&p).unwrap_err();
    assert!(matches!(err, SftError::Config { .. }), "{err}");
    assert!(err.to_string().contains("hidden_size"), "{err}");
}

#[test]
fn unsupported_architecture_is_rejected() {
    let mut j = serde_json::to_value(tiny_config()).unwrap();
    j["architectures"] = serde_json::json!(["MistralForCausalLM"]);
    let dir = tempfile::tempdir().unwrap();
    let err = sft::Config::from_file(&write_config(dir.path(), j)).unwrap_err();
    assert!(
        matches!(err, SftError::UnsupportedArchitecture(ref a) if a == "MistralForCausalLM"),
        "{err}"
    );
}

#[test]
fn hf_directory_round_trips_and_wrong_shape_is_rejected() {
    let cfg = tiny_config();
    let model = CausalLm::random(cfg.clone(), 3, &TrainMode::Frozen, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let mut weights: HashMap<String, Tensor> = model.named_weights().into_iter().collect();
    sft::atomic_file::write_safetensors(&dir.path().join("model.safetensors"), &weights).unwrap();
    let (c2, w2) = sft::weights::load_hf_dir(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(c2, cfg);
    let reloaded = CausalLm::from_weights(c2, &w2, &TrainMode::Frozen, &Device::Cpu).unwrap();
    let ids = Tensor::new(&[[1u32, 2, 3, 4]], &Device::Cpu).unwrap();
    let a = model
        .forward(&ids, None, None, &mut sft::ForwardCtx::eval())
        .unwrap();
    let b = reloaded
        .forward(&ids, None, None, &mut sft::ForwardCtx::eval())
        .unwrap();
    assert_eq!(crate::common::values(&a), crate::common::values(&b));

    let name = "model.layers.1.self_attn.k_proj.weight".to_string();
    weights.insert(
        name.clone(),
        Tensor::zeros((8, 32), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let err = CausalLm::from_weights(cfg, &weights, &TrainMode::Frozen, &Device::Cpu).unwrap_err();
    match err {
        SftError::TensorShape {
            name: n,
            expected,
            actual,
        } => {
            assert_eq!(n, name);
            assert_eq!(expected, vec![16, 32]);
            assert_eq!(actual, vec![8, 32]);
        }
        e => panic!("unexpected {e}"),
    }
}

#[test]
fn empty_loss_mask_is_an_error() {
    let logits = Tensor::zeros((1, 4, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
    let ids = Tensor::new(&[[1u32, 2, 3, 4]], &Device::Cpu).unwrap();
    let mask = Tensor::new(&[[1u32, 0, 0, 0]], &Device::Cpu).unwrap();
    // the only marked token is the first, which nothing predicts
    assert!(sft::loss::causal_lm_loss(&logits, &ids, &mask).is_err());
}

#[test]
fn masked_loss_matches_hand_computation() {
    // logits for 3 positions over 2 tokens; targets are ids[1..] = [1, 0, 1].
    // position 0: logits (0, ln 3) -> p(1) = 3/4 -> nll ln(4/3)
    // position 1: logits (0, 0) -> p(0) = 1/2 -> nll ln 2, masked out
    // position 2: logits (ln 4, 0) -> p(1) = 1/5 -> nll ln 5
    // mean over the 2 counted tokens = (ln(4/3) + ln 5) / 2
    let l3 = 3f32.ln();
    let l4 = 4f32.ln();
    let logits = Tensor::new(
        &[[[0.0f32, l3], [0.0, 0.0], [l4, 0.0], [9.0, 9.0]]],
        &Device::Cpu,
    )
    .unwrap();
    let ids = Tensor::new(&[[0u32, 1, 0, 1]], &Device::Cpu).unwrap();
    let mask = Tensor::new(&[[0u32, 1, 0, 1]], &Device::Cpu).unwrap();
    let loss = sft::loss::causal_lm_loss(&logits, &ids, &mask).unwrap();
    assert_eq!(loss.tokens, 2);
    let got = f64::from(loss.mean().unwrap().to_scalar::<f32>().unwrap());
    let want = ((4.0f64 / 3.0).ln() + 5f64.ln()) / 2.0;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn packed_row_equals_its_samples_run_alone() {
    // block-diagonal mask + restarting positions: a packed row's logits are those of
    // its two samples run separately
    let model = CausalLm::random(tiny_config(), 4, &TrainMode::Frozen, &Device::Cpu).unwrap();
    let mut ctx = sft::ForwardCtx::eval();
    let packed = Tensor::new(&[[5u32, 6, 7, 8, 9, 10, 11]], &Device::Cpu).unwrap();
    let pos = Tensor::new(&[[0u32, 1, 2, 0, 1, 2, 3]], &Device::Cpu).unwrap();
    let a = Tensor::new(&[[5u32, 6, 7]], &Device::Cpu).unwrap();
    let b = Tensor::new(&[[8u32, 9, 10, 11]], &Device::Cpu).unwrap();
    let lp = model.forward(&packed, None, Some(&pos), &mut ctx).unwrap();
    let la = model.forward(&a, None, None, &mut ctx).unwrap();
    let lb = model.forward(&b, None, None, &mut ctx).unwrap();
    let joined = Tensor::cat(&[&la, &lb], 1).unwrap();
    let (abs, _) =
        crate::common::errors(&crate::common::values(&lp), &crate::common::values(&joined));
    assert!(abs < 1e-5, "{abs}");
    // without the position restart the second sample would see the first
    let lnp = model.forward(&packed, None, None, &mut ctx).unwrap();
    let (abs2, _) = crate::common::errors(
        &crate::common::values(&lnp),
        &crate::common::values(&joined),
    );
    assert!(abs2 > 1e-4);
}

#[test]
fn sharded_checkpoint_with_index_loads() {
    let cfg = tiny_config();
    let model = CausalLm::random(cfg.clone(), 3, &TrainMode::Frozen, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let all = model.named_weights();
    let (first, second) = all.split_at(all.len() / 2);
    let mut map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        let t: HashMap<String, Tensor> = part.iter().cloned().collect();
        sft::atomic_file::write_safetensors(&dir.path().join(file), &t).unwrap();
        for (n, _) in part {
            map.insert(n.clone(), file.into());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    let (_, w) = sft::weights::load_hf_dir(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(w.len(), all.len());
    // a missing shard is an I/O error naming the file
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let err = sft::weights::load_hf_dir(dir.path(), &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("model-00002-of-00002"), "{err}");
}

#[test]
fn hf_labels_convert_to_a_loss_mask() {
    // datasets' rows carry unshifted labels: the token where trained, -100 elsewhere
    let e = sft::Example::from_labels(vec![5, 6, 7, 8], &[-100, -100, 7, 8], None).unwrap();
    assert_eq!(e.loss_mask, vec![0, 0, 1, 1]);
    assert_eq!(e.trained_tokens(), 2);
    let err = sft::Example::from_labels(vec![5, 6, 7], &[-100, 9, 7], None).unwrap_err();
    assert!(err.to_string().contains("position 1"), "{err}");
}
