//! Summed masked completion log-probabilities against torch's (fixture written by
//! `make_trl_losses.py`: `log_softmax(logits[:, :-1]).gather(ids[:, 1:])` masked by
//! `completion_mask[:, 1:]`, summed per row).

use crate::fixture;
use candle_core::{DType, Device, Tensor, Var};
use dpo::{SequenceLogps, sequence_logps, sequence_logps_composed, sequence_logps_recomputed};

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
    // f32 logits (the fused path) give f32 sums equal to torch's within f32 precision.
    let out32 = sequence_logps(
        &logits.as_tensor().to_dtype(DType::F32).unwrap(),
        &ids,
        &mask,
    )
    .unwrap();
    assert_eq!(out32.logps.dtype(), DType::F32);
    assert_eq!(out32.tokens, f.tokens);
    let got: Vec<f32> = out32.logps.to_vec1().unwrap();
    for (g, w) in got.iter().zip(&f.logps) {
        assert!(
            (f64::from(*g) - w).abs() < 1e-4 * w.abs().max(1.0),
            "fused got {g}, torch {w}"
        );
    }
}

/// Deterministic logits in roughly [-4, 4] without an RNG dependency.
fn logits_f32(b: usize, s: usize, v: usize) -> Tensor {
    let data: Vec<f32> = (0..b * s * v)
        .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 8.0)
        .collect();
    Tensor::from_vec(data, (b, s, v), &Device::Cpu).unwrap()
}

#[test]
fn fused_path_equals_the_composed_ops_in_values_and_gradients() {
    matches_the_composed_ops(sequence_logps);
}

/// The GPU's path, run here on the CPU (`sft::recompute`'s grouped cross-entropy).
#[test]
fn recomputed_path_equals_the_composed_ops_in_values_and_gradients() {
    matches_the_composed_ops(sequence_logps_recomputed);
}

fn matches_the_composed_ops(path: fn(&Tensor, &Tensor, &Tensor) -> dpo::Result<SequenceLogps>) {
    let dev = Device::Cpu;
    let (b, s, v) = (4, 6, 17);
    let logits = Var::from_tensor(&logits_f32(b, s, v)).unwrap();
    let ids = Tensor::new(
        &[
            [1u32, 5, 16, 0, 3, 3],
            [7, 2, 2, 9, 4, 0],
            [0, 1, 2, 3, 4, 5],
            [9, 9, 9, 9, 9, 9],
        ],
        &dev,
    )
    .unwrap();
    // A float mask; row 3 selects nothing (its log-probability is 0 with 0 tokens).
    let mask = Tensor::new(
        &[
            [0f32, 0., 1., 1., 1., 0.],
            [0., 1., 1., 0., 0., 0.],
            [0., 0., 0., 0., 0., 2.],
            [0., 0., 0., 0., 0., 0.],
        ],
        &dev,
    )
    .unwrap();
    let fused = path(logits.as_tensor(), &ids, &mask).unwrap();
    let logits64 = Var::from_tensor(&logits.as_tensor().to_dtype(DType::F64).unwrap()).unwrap();
    let plain = sequence_logps_composed(logits64.as_tensor(), &ids, &mask).unwrap();
    assert_eq!(fused.tokens, vec![3, 2, 1, 0]);
    assert_eq!(plain.tokens, fused.tokens);
    let f: Vec<f32> = fused.logps.to_vec1().unwrap();
    let p: Vec<f64> = plain.logps.to_vec1().unwrap();
    for (row, (a, e)) in f.iter().zip(&p).enumerate() {
        assert!(
            (f64::from(*a) - e).abs() < 1e-5,
            "row {row}: fused {a}, composed {e}"
        );
    }
    assert_eq!(f[3], 0.0);
    // Per-row upstream weights, as DPO's loss gives each chosen and rejected row its own.
    let upstream = [0.5f64, -1.25, 3.0, 7.0];
    let up32 = Tensor::new(&upstream.map(|x| x as f32), &dev).unwrap();
    let up64 = Tensor::new(&upstream, &dev).unwrap();
    let gf = (fused.logps * up32)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gp = (plain.logps * up64)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gf: Vec<f32> = gf
        .get(logits.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let gp: Vec<f64> = gp
        .get(logits64.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let worst = gf
        .iter()
        .zip(&gp)
        .map(|(a, e)| (f64::from(*a) - e).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "largest gradient difference {worst}");
    // Row 3 and every last position get no gradient.
    assert!(gf[3 * s * v..].iter().all(|&g| g == 0.0));
    for row in 0..b {
        let last = (row * s + s - 1) * v;
        assert!(gf[last..last + v].iter().all(|&g| g == 0.0), "row {row}");
    }
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
