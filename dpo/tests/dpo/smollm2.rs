//! Acceptance 2 of issue 6: summed masked log-probs of chosen/rejected sequences for
//! SmolLM2-135M (its GGUF, dequantized) equal transformers' within 1e-4. The batch is
//! TRL's layout (chosen rows, then rejected rows, right-padded); one completion masks
//! out two inner tokens. Reference: `dpo/fixtures/make_smollm2_logps.py`, transformers'
//! model run in f64 (the exact value of these weights) and in f32.
//!
//! The 1e-4 bound is held against the f64 run. Two f32 implementations each carry
//! their own rounding: transformers' f32 sums are up to 4.1e-5 from its f64 ones (in
//! the fixture), ours 3–8e-5 depending on gemm's kernel (AVX2 or AVX-512) and the
//! exponential. Their difference is the sum of the two, up to 1.2e-4, so against the
//! f32 run the bound is 2e-4, the two error budgets added.

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use sft::{CausalLm, ForwardCtx, TrainMode};

#[derive(Debug, Deserialize)]
struct Fixture {
    version: u32,
    input_ids: Vec<Vec<u32>>,
    attention_mask: Vec<Vec<u32>>,
    completion_mask: Vec<Vec<u32>>,
    tokens: Vec<usize>,
    logps_f32_model: Vec<f64>,
    logps_f64_model: Vec<f64>,
}

fn matrix(rows: &[Vec<u32>]) -> Tensor {
    let (b, s) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), (b, s), &Device::Cpu).unwrap()
}

#[test]
fn smollm2_summed_masked_logps_match_transformers() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/smollm2_logps.json");
    let fx: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(fx.version, 1);

    let store = sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline);
    let gguf = store
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the artifact cache (run `distill setup` or set DISTILL_CACHE)");
    let (cfg, weights) = sft::gguf::load_gguf(&gguf, &Device::Cpu).unwrap();
    let model = CausalLm::from_weights(cfg, &weights, &TrainMode::Full, &Device::Cpu).unwrap();

    let ids = matrix(&fx.input_ids);
    let attn = matrix(&fx.attention_mask);
    let mask = matrix(&fx.completion_mask);
    let logits = model
        .forward(&ids, Some(&attn), None, &mut ForwardCtx::eval())
        .unwrap();

    // Log-softmax in f64 over the f32 logits, as the fixture; and in f32, as training.
    for dtype in [DType::F64, DType::F32] {
        let out = dpo::sequence_logps(&logits.to_dtype(dtype).unwrap(), &ids, &mask).unwrap();
        assert_eq!(out.tokens, fx.tokens);
        let got: Vec<f64> = out.logps.to_dtype(DType::F64).unwrap().to_vec1().unwrap();
        let mut worst = (0f64, 0f64);
        for ((g, w32), w64) in got.iter().zip(&fx.logps_f32_model).zip(&fx.logps_f64_model) {
            worst = (worst.0.max((g - w32).abs()), worst.1.max((g - w64).abs()));
            assert!(
                (g - w64).abs() < 1e-4,
                "{dtype:?}: got {g}, transformers f64 {w64} (|diff| {:e})",
                (g - w64).abs()
            );
            assert!(
                (g - w32).abs() < 2e-4,
                "{dtype:?}: got {g}, transformers f32 {w32} (|diff| {:e})",
                (g - w32).abs()
            );
        }
        let (chosen, rejected) = out.split_pairs().unwrap();
        assert_eq!(chosen.tokens, fx.tokens[..2]);
        assert_eq!(rejected.tokens, fx.tokens[2..]);
        assert_eq!(
            rejected
                .logps
                .to_dtype(DType::F64)
                .unwrap()
                .to_vec1::<f64>()
                .unwrap(),
            got[2..]
        );
        eprintln!(
            "SmolLM2 summed logps ({dtype:?} log-softmax): max |diff| vs transformers f32 {:.3e}, vs f64 model {:.3e}",
            worst.0, worst.1
        );
    }
}
