//! Qwen2.5-Coder-0.5B from its GGUF (qwen2 architecture: q/k/v biases, no Q/K
//! permutation) reproduces transformers' logits. Fixture `sft/fixtures/qwen2_gguf.json`
//! from `make_qwen2_gguf.py` (torch 2.15.0, transformers 5.24.0, f32, eager).
//! Tolerance 1e-4 relative (max abs error / max abs reference value).

use crate::common::{errors, values};
use candle_core::{Device, Tensor};
use serde::Deserialize;
use sft::{CausalLm, ForwardCtx, TrainMode};

#[derive(Deserialize)]
struct Fixture {
    rows: Vec<Vec<u32>>,
    seq: usize,
    pad: u32,
    vocab_probe: Vec<u32>,
    vocab_size: usize,
    logits: Vec<RowLogits>,
}

#[derive(Deserialize)]
struct RowLogits {
    lse: Vec<f64>,
    probe: Vec<Vec<f64>>,
    argmax: Vec<u32>,
}

#[test]
fn qwen2_gguf_logits_match_transformers() {
    let fx: Fixture = serde_json::from_str(include_str!("../../fixtures/qwen2_gguf.json")).unwrap();
    let store = sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline);
    let path = store
        .file(&sandbox::artifacts::QWEN25_CODER_05B_GGUF)
        .unwrap();
    let (cfg, weights) = sft::gguf::load_gguf(&path, &Device::Cpu).unwrap();
    assert_eq!(cfg.family().unwrap(), sft::Family::Qwen2);
    assert_eq!(cfg.vocab_size, fx.vocab_size);
    let model = CausalLm::from_weights(cfg, &weights, &TrainMode::Frozen, &Device::Cpu).unwrap();
    drop(weights);
    let dev = Device::Cpu;
    let ids: Vec<Vec<u32>> = fx
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .copied()
                .chain(std::iter::repeat_n(fx.pad, fx.seq - r.len()))
                .collect()
        })
        .collect();
    let attn: Vec<Vec<u32>> = fx
        .rows
        .iter()
        .map(|r| (0..fx.seq).map(|t| u32::from(t < r.len())).collect())
        .collect();
    let logits = model
        .forward(
            &Tensor::new(ids, &dev).unwrap(),
            Some(&Tensor::new(attn, &dev).unwrap()),
            None,
            &mut ForwardCtx::eval(),
        )
        .unwrap();
    let probe_ids = Tensor::new(fx.vocab_probe.as_slice(), &dev).unwrap();
    let mut worst = (0f64, 0f64);
    for (i, exp) in fx.logits.iter().enumerate() {
        // (real, vocab)
        let l = logits
            .get(i)
            .unwrap()
            .narrow(0, 0, fx.rows[i].len())
            .unwrap();
        let l64 = l.to_dtype(candle_core::DType::F64).unwrap();
        let lse = values(&l64.exp().unwrap().sum(1).unwrap().log().unwrap());
        let probe = values(&l.index_select(&probe_ids, 1).unwrap());
        let flat: Vec<f64> = exp.probe.iter().flatten().copied().collect();
        assert_eq!(
            l.argmax(1).unwrap().to_vec1::<u32>().unwrap(),
            exp.argmax,
            "argmax row {i}"
        );
        for (a, e) in [(lse, &exp.lse), (probe, &flat)] {
            let (abs, rel) = errors(&a, e);
            worst = (worst.0.max(abs), worst.1.max(rel));
        }
    }
    eprintln!(
        "qwen2 gguf logits: max abs {:.3e}, rel {:.3e}",
        worst.0, worst.1
    );
    assert!(worst.1 < 1e-4, "rel error {:e}", worst.1);
}
