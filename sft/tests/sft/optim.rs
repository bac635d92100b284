//! AdamW + global-norm clipping + warmup/cosine against `torch.optim.AdamW`,
//! `clip_grad_norm_` and `LambdaLR` (fixture `adamw` in `sft/fixtures/parity.json`,
//! written by `make_parity.py`). Tolerance 1e-6 absolute on parameters (values ~0.5).

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use serde::Deserialize;
use sft::clip::clip_grad_norm;
use sft::{AdamW, AdamWConfig, Decay, Schedule};

#[derive(Deserialize)]
struct Fixture {
    adamw: Run,
}

#[derive(Deserialize)]
struct Run {
    lr: f64,
    weight_decay: f64,
    warmup: u64,
    total: u64,
    clip: f64,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    grad_norm: f64,
    lr: f64,
    p0: Vec<f64>,
    p1: Vec<f64>,
}

/// `0.5 sin(1.3 i + 0.7 j + k + n)`, as `val` in the Python script.
fn val(n: usize, r: usize, c: usize, k: f64) -> Tensor {
    let mut v = Vec::new();
    for i in 0..r {
        for j in 0..c {
            v.push((0.5 * (1.3 * i as f64 + 0.7 * j as f64 + k + n as f64).sin()) as f32);
        }
    }
    Tensor::from_vec(v, (r, c), &Device::Cpu).unwrap()
}

#[test]
fn adamw_with_clipping_and_cosine_schedule_matches_torch() {
    let fx: Fixture = serde_json::from_str(include_str!("../../fixtures/parity.json")).unwrap();
    let run = fx.adamw;
    let p0 = Var::from_tensor(&val(0, 3, 4, 0.0)).unwrap();
    let p1 = Var::from_tensor(&val(1, 5, 2, 0.0)).unwrap();
    let params = vec![
        ("p0".to_string(), p0.clone()),
        ("p1".to_string(), p1.clone()),
    ];
    let cfg = AdamWConfig {
        lr: run.lr,
        weight_decay: run.weight_decay,
        ..Default::default()
    };
    let mut opt = AdamW::new(&params, cfg).unwrap();
    let sched = Schedule {
        peak_lr: run.lr,
        warmup_steps: run.warmup,
        total_steps: run.total,
        decay: Decay::Cosine,
    };
    assert_eq!(run.steps.len(), 4);
    let mut worst = 0f64;
    for (i, exp) in run.steps.iter().enumerate() {
        let k = (i + 1) as f64;
        // a GradStore holding the fixed gradients 3 * val(.., k)
        let loss = ((p0.as_tensor() * (val(0, 3, 4, k) * 3.0).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            + (p1.as_tensor() * (val(1, 5, 2, k) * 3.0).unwrap())
                .unwrap()
                .sum_all()
                .unwrap())
        .unwrap();
        let mut grads: GradStore = loss.backward().unwrap();
        let norm = clip_grad_norm(&mut grads, &params, run.clip).unwrap();
        assert!(
            (norm - exp.grad_norm).abs() < 1e-5 * exp.grad_norm,
            "norm {norm} vs {}",
            exp.grad_norm
        );
        assert!(exp.grad_norm > run.clip, "fixture must exercise clipping");
        let lr = sched.lr(i as u64);
        assert!((lr - exp.lr).abs() < 1e-12, "lr {lr} vs {}", exp.lr);
        opt.step(&grads, lr).unwrap();
        for (var, want) in [(&p0, &exp.p0), (&p1, &exp.p1)] {
            let got = crate::common::values(var.as_tensor());
            let (abs, _) = crate::common::errors(&got, want);
            worst = worst.max(abs);
            assert!(abs < 1e-6, "step {i}: param error {abs:e}");
        }
    }
    eprintln!("adamw: max abs param error {worst:.3e}");
}

#[test]
fn adamw_state_round_trips_and_resumes_identically() {
    let mk = || Var::from_tensor(&val(0, 3, 4, 0.0)).unwrap();
    let grad_step = |p: &Var, k: f64| {
        let loss = (p.as_tensor() * val(0, 3, 4, k))
            .unwrap()
            .sum_all()
            .unwrap();
        loss.backward().unwrap()
    };
    let cfg = AdamWConfig {
        lr: 1e-2,
        weight_decay: 0.01,
        ..Default::default()
    };
    // four steps straight
    let a = mk();
    let pa = vec![("w".to_string(), a.clone())];
    let mut oa = AdamW::new(&pa, cfg).unwrap();
    for k in 0..4 {
        oa.step(&grad_step(&a, k as f64), 1e-2).unwrap();
    }
    // two steps, save, restore into a fresh optimizer, two more
    let b = mk();
    let pb = vec![("w".to_string(), b.clone())];
    let mut ob = AdamW::new(&pb, cfg).unwrap();
    for k in 0..2 {
        ob.step(&grad_step(&b, k as f64), 1e-2).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optim.safetensors");
    sft::atomic_file::write_safetensors(&path, &ob.state_tensors()).unwrap();
    let state = sft::weights::load_safetensors(&path, &Device::Cpu).unwrap();
    let mut oc = AdamW::new(&pb, cfg).unwrap();
    oc.load_state(&state, ob.steps()).unwrap();
    for k in 2..4 {
        oc.step(&grad_step(&b, k as f64), 1e-2).unwrap();
    }
    assert_eq!(
        crate::common::values(a.as_tensor()),
        crate::common::values(b.as_tensor())
    );
}

#[test]
fn adamw_rejects_nan_learning_rate() {
    let p = vec![(
        "w".to_string(),
        Var::from_tensor(&val(0, 2, 2, 0.0)).unwrap(),
    )];
    assert!(
        AdamW::new(
            &p,
            AdamWConfig {
                lr: f64::NAN,
                ..Default::default()
            }
        )
        .is_err()
    );
}
