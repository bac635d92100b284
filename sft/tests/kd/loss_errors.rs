//! Bad arguments to the distillation loss: each is a typed error that says what is
//! wrong, never a panic or a silent result.

use candle_core::{Device, Tensor};
use sft::SftError;
use sft::kd::loss::{KdLoss, TeacherRows, TopKRows, kd_loss_sum, kd_loss_sum_composed};

/// 2 × 3 rows of a 5-token vocabulary.
fn logits(seed: f32) -> Tensor {
    let v: Vec<f32> = (0..30).map(|i| ((i as f32 + seed) * 0.37).sin()).collect();
    Tensor::from_vec(v, (2, 3, 5), &Device::Cpu).unwrap()
}

/// The message of an `InvalidArgument` error (any other outcome fails the test).
fn invalid(r: sft::Result<Tensor>) -> String {
    match r {
        Err(SftError::InvalidArgument(m)) => m,
        Err(e) => panic!("expected InvalidArgument, got {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

fn top_k(ids: Vec<u32>) -> TeacherRows {
    let k = ids.len() / 6;
    TeacherRows::TopK(TopKRows {
        k,
        logprobs: vec![-2.0; ids.len()],
        ids,
    })
}

#[test]
fn bad_arguments_are_typed_errors() {
    let s = logits(0.0);
    let t = TeacherRows::Logits(logits(1.0));
    let w = vec![1.0f32; 6];
    let ok = KdLoss::default();

    let m = invalid(kd_loss_sum(&s, &t, &w[..5], &ok));
    assert!(m.contains("5 weights for 6 rows"), "{m}");
    let m = invalid(kd_loss_sum_composed(&s, &logits(1.0), &w[..5], &ok));
    assert!(m.contains("5 weights for 6 rows"), "{m}");

    let beta = KdLoss {
        beta: 1.5,
        ..KdLoss::default()
    };
    let m = invalid(kd_loss_sum(&s, &t, &w, &beta));
    assert!(m.contains("beta") && m.contains("1.5"), "{m}");
    assert!(beta.validate().is_err());
    let m = invalid(kd_loss_sum_composed(&s, &logits(1.0), &w, &beta));
    assert!(m.contains("beta"), "{m}");

    for temperature in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let bad = KdLoss {
            temperature,
            ..KdLoss::default()
        };
        let m = invalid(kd_loss_sum(&s, &t, &w, &bad));
        assert!(m.contains("temperature"), "{m}");
    }

    // token id 5 in a 5-token vocabulary: row 4, entry 1
    let mut ids: Vec<u32> = (0..6).flat_map(|_| [0u32, 1]).collect();
    ids[9] = 5;
    let m = invalid(kd_loss_sum(&s, &top_k(ids.clone()), &w, &ok));
    assert!(
        m.contains("row 4, entry 1") && m.contains("token id 5"),
        "{m}"
    );
    // ... not read where the row does not count
    let mut masked = w.clone();
    masked[4] = 0.0;
    assert!(kd_loss_sum(&s, &top_k(ids), &masked, &ok).is_ok());

    // the same token twice in row 2
    let mut ids: Vec<u32> = (0..6).flat_map(|_| [0u32, 1]).collect();
    ids[5] = 0;
    let m = invalid(kd_loss_sum(&s, &top_k(ids), &w, &ok));
    assert!(m.contains("row 2") && m.contains("twice"), "{m}");

    // lengths, k
    let m = invalid(kd_loss_sum(&s, &top_k(vec![0; 11]), &w, &ok));
    assert!(m.contains("expected 6 rows"), "{m}");
    let too_many = TeacherRows::TopK(TopKRows {
        k: 6,
        ids: vec![0; 36],
        logprobs: vec![-1.0; 36],
    });
    let m = invalid(kd_loss_sum(&s, &too_many, &w, &ok));
    assert!(m.contains("k = 6"), "{m}");

    // not a log-probability
    let nan = TeacherRows::TopK(TopKRows {
        k: 1,
        ids: vec![0; 6],
        logprobs: vec![-1.0, -1.0, f32::NAN, -1.0, -1.0, -1.0],
    });
    let m = invalid(kd_loss_sum(&s, &nan, &w, &ok));
    assert!(m.contains("row 2, entry 0"), "{m}");

    // shapes and weights
    let other = TeacherRows::Logits(
        Tensor::zeros((2, 3, 4), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let m = invalid(kd_loss_sum(&s, &other, &w, &ok));
    assert!(m.contains("[2, 3, 4]") && m.contains("[2, 3, 5]"), "{m}");
    let mut nan_w = w.clone();
    nan_w[3] = f32::NAN;
    let m = invalid(kd_loss_sum(&s, &t, &nan_w, &ok));
    assert!(m.contains("row 3"), "{m}");
}
