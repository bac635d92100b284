//! Summed masked completion log-probabilities against torch's (fixture written by
//! `make_trl_losses.py`: `log_softmax(logits[:, :-1]).gather(ids[:, 1:])` masked by
//! `completion_mask[:, 1:]`, summed per row).

use crate::fixture;
use candle_core::{DType, Device, Tensor, Var};
use dpo::sequence_logps;

#[test]
fn summed_masked_logps_match_torch() {
    let f = fixture::load().sequence_logps;
    let (b, s, v) = (f.shape[0], f.shape[1], f.shape[2]);
    let dev = Device::Cpu;
    let logits =
        Var::from_tensor(&Tensor::from_vec(f.logits.clone(), (b, s, v), &dev).unwrap()).unwrap();
    let ids = Tensor::from_vec(f.input_ids.clone(), (b, s), &dev).unwrap();
    let mask = Tensor::from_vec(f.completion_mask.clone(), (b, s), &dev).unwrap();
    let out = sequence_logps(logits.as_tensor(), &ids, &mask).unwrap();
    assert_eq!(out.tokens, f.tokens);
    let got: Vec<f64> = out.logps.to_vec1().unwrap();
    for (g, w) in got.iter().zip(&f.logps) {
        assert!((g - w).abs() < 1e-9, "got {g}, torch {w}");
    }
    // Gradients reach the logits only at positions that predict completion tokens.
    let grads = out.logps.sum_all().unwrap().backward().unwrap();
    let g = grads.get(logits.as_tensor()).unwrap();
    let per_pos: Vec<Vec<f64>> = g.abs().unwrap().sum(2).unwrap().to_vec2().unwrap();
    let m: Vec<u32> = f.completion_mask.clone();
    for row in 0..b {
        for t in 0..s {
            let predicts_completion = t + 1 < s && m[row * s + t + 1] != 0;
            assert_eq!(
                per_pos[row][t] > 0.0,
                predicts_completion,
                "row {row} pos {t}"
            );
        }
    }
    // f32 logits give f32 sums.
    let out32 = sequence_logps(
        &logits.as_tensor().to_dtype(DType::F32).unwrap(),
        &ids,
        &mask,
    )
    .unwrap();
    assert_eq!(out32.logps.dtype(), DType::F32);
}

#[test]
fn rejects_mismatched_shapes() {
    let dev = Device::Cpu;
    let logits = Tensor::zeros((2, 4, 5), DType::F32, &dev).unwrap();
    let ids = Tensor::zeros((2, 3), DType::U32, &dev).unwrap();
    let mask = Tensor::zeros((2, 4), DType::U32, &dev).unwrap();
    assert!(matches!(
        sequence_logps(&logits, &ids, &mask),
        Err(dpo::DpoError::InvalidInput(_))
    ));
    // Three rows cannot be split into chosen and rejected halves.
    let odd = dpo::SequenceLogps {
        logps: Tensor::zeros(3, DType::F32, &dev).unwrap(),
        tokens: vec![1, 2, 3],
    };
    assert!(matches!(
        odd.split_pairs(),
        Err(dpo::DpoError::InvalidInput(_))
    ));
}
