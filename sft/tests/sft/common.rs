//! Shared helpers: a tiny config, the cached SmolLM2 GGUF weights (loaded once), and
//! error measures.

use candle_core::{Device, Tensor};
use sft::Config;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A tiny Llama config with GQA and tied embeddings.
pub fn tiny_config() -> Config {
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
    .expect("tiny config")
}

/// Config and f32 weights of SmolLM2-135M from the artifact cache, loaded once.
pub fn smollm2() -> &'static (Config, HashMap<String, Tensor>) {
    static CELL: OnceLock<(Config, HashMap<String, Tensor>)> = OnceLock::new();
    CELL.get_or_init(|| {
        let store =
            sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline);
        let path = store.file(&sandbox::artifacts::SMOLLM2_135M_GGUF).expect(
            "SmolLM2 GGUF in the artifact cache (run `distill setup` or set DISTILL_CACHE)",
        );
        sft::gguf::load_gguf(&path, &Device::Cpu).expect("load GGUF")
    })
}

/// `max |a - b|` and that divided by `max |b|` (a norm-wise relative error).
pub fn errors(actual: &[f64], expected: &[f64]) -> (f64, f64) {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    let mut abs = 0f64;
    let mut scale = 0f64;
    for (a, e) in actual.iter().zip(expected) {
        abs = abs.max((a - e).abs());
        scale = scale.max(e.abs());
    }
    (abs, abs / scale.max(1e-30))
}

/// A tensor's values as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .and_then(|t| t.to_dtype(candle_core::DType::F64))
        .and_then(|t| t.to_vec1::<f64>())
        .expect("tensor values")
}
