//! The distillation losses against TRL's `GKDTrainer.generalized_jsd_loss` (the
//! fixture `sft/fixtures/kd/trl_jsd.json`, written by `make_trl_jsd.py` next to it
//! with TRL 1.16.0), and the fused chunked op against the unchunked composition.

use crate::loss_support::{composed_mean, count, fused_mean, randn, rel_err};
use candle_core::DType;
use serde::Deserialize;
use sft::kd::loss::{KdLoss, TeacherRows};

/// `trl_jsd.json`.
#[derive(Debug, Deserialize)]
struct Fixture {
    version: u32,
    trl: String,
    function: String,
    cases: Vec<Case>,
}

/// One set of logits and TRL's results on it.
#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    /// `(batch, seq, vocab)`.
    shape: Vec<usize>,
    /// f32 values on a 1/1024 grid (exact through JSON).
    student_logits: Vec<f32>,
    teacher_logits: Vec<f32>,
    /// `(batch, seq)`, −100 where the position is not counted.
    labels: Vec<i64>,
    results: Vec<Expected>,
}

/// TRL's loss (batchmean over unmasked positions) and torch's gradient w.r.t. the
/// student logits, both in float64.
#[derive(Debug, Deserialize)]
struct Expected {
    beta: f64,
    temperature: f64,
    loss: f64,
    grad: Option<Vec<f64>>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/kd/trl_jsd.json");
    let text = std::fs::read_to_string(path).expect("read trl_jsd.json");
    let f: Fixture = serde_json::from_str(&text).expect("parse trl_jsd.json");
    assert_eq!(f.version, 1);
    assert_eq!(f.trl, "1.16.0");
    assert!(f.function.ends_with("GKDTrainer.generalized_jsd_loss"));
    f
}

#[test]
fn matches_trl_generalized_jsd_loss_and_gradient() {
    let f = fixture();
    let mut checked = (0, 0);
    // largest errors seen: fused loss, fused gradient, composed f32 loss, gradient
    let mut worst = [0f64; 4];
    for case in &f.cases {
        let weights: Vec<f32> = case
            .labels
            .iter()
            .map(|&l| if l == -100 { 0.0 } else { 1.0 })
            .collect();
        assert!(
            count(&weights) < weights.len(),
            "{}: some rows masked",
            case.name
        );
        for e in &case.results {
            let loss = KdLoss {
                beta: e.beta,
                temperature: e.temperature,
            };
            let what = format!("{} beta {} T {}", case.name, e.beta, e.temperature);
            let teacher = TeacherRows::Logits(
                candle_core::Tensor::from_slice(
                    &case.teacher_logits,
                    case.shape.as_slice(),
                    &candle_core::Device::Cpu,
                )
                .unwrap(),
            );
            let (fused, g_fused) =
                fused_mean(&case.student_logits, &case.shape, teacher, &weights, &loss);
            assert!(
                (fused - e.loss).abs() < 1e-6,
                "{what}: fused loss {fused} vs TRL {}",
                e.loss
            );
            // The composed path in f64 is the same formula as TRL's in float64.
            let (c64, g_c64) = composed_mean(
                &case.student_logits,
                &case.teacher_logits,
                &case.shape,
                &weights,
                &loss,
                DType::F64,
            );
            assert!(
                (c64 - e.loss).abs() < 1e-9,
                "{what}: composed f64 loss {c64} vs TRL {}",
                e.loss
            );
            // In f32 (the fallback's arithmetic) rounding of log-softmax and the
            // mixture's logsumexp costs a few units of 1e-7.
            let (c32, g_c32) = composed_mean(
                &case.student_logits,
                &case.teacher_logits,
                &case.shape,
                &weights,
                &loss,
                DType::F32,
            );
            assert!(
                (c32 - e.loss).abs() < 1e-5,
                "{what}: composed f32 loss {c32} vs TRL {}",
                e.loss
            );
            worst[0] = worst[0].max((fused - e.loss).abs());
            worst[2] = worst[2].max((c32 - e.loss).abs());
            checked.0 += 1;
            if let Some(g) = &e.grad {
                let err = rel_err(&g_fused, g);
                assert!(err < 1e-6, "{what}: fused gradient relative error {err}");
                worst[1] = worst[1].max(err);
                let err = rel_err(&g_c64, g);
                assert!(
                    err < 1e-9,
                    "{what}: composed f64 gradient relative error {err}"
                );
                let err = rel_err(&g_c32, g);
                assert!(
                    err < 1e-5,
                    "{what}: composed f32 gradient relative error {err}"
                );
                worst[3] = worst[3].max(err);
                checked.1 += 1;
            }
        }
    }
    // 2 cases × 5 betas × 3 temperatures; gradients for all 15 of the small case and 5
    // of the vocab-300 case
    assert_eq!(checked, (30, 20));
    println!(
        "vs TRL: fused loss {:.1e}, gradient {:.1e}; composed f32 loss {:.1e}, gradient {:.1e}",
        worst[0], worst[1], worst[2], worst[3]
    );
}

#[test]
fn chunked_equals_unchunked() {
    // 37 rows (not a multiple of any thread split) of a 2000-token vocabulary, a
    // quarter of them masked out; the fused op walks rows across threads, the
    // composed path (in f64) holds all of them at once.
    let (rows, vocab) = (37, 2000);
    let shape = [rows, vocab];
    let student = randn(1, rows * vocab, 0.0, 2.0);
    let teacher = randn(2, rows * vocab, 0.5, 3.0);
    let weights: Vec<f32> = (0..rows)
        .map(|r| {
            if r % 4 == 1 {
                0.0
            } else {
                1.0 + (r % 3) as f32 * 0.5
            }
        })
        .collect();
    for (beta, temperature) in [(0.0, 1.0), (0.3, 0.5), (0.5, 1.0), (0.8, 2.0), (1.0, 1.5)] {
        let loss = KdLoss { beta, temperature };
        let t =
            candle_core::Tensor::from_slice(&teacher, &shape, &candle_core::Device::Cpu).unwrap();
        let (fused, g_fused) =
            fused_mean(&student, &shape, TeacherRows::Logits(t), &weights, &loss);
        let (plain, g_plain) =
            composed_mean(&student, &teacher, &shape, &weights, &loss, DType::F64);
        assert!(plain > 0.05, "beta {beta}: a loss far from 0 ({plain})");
        assert!(
            (fused - plain).abs() < 1e-6,
            "beta {beta} T {temperature}: fused {fused} vs composed {plain}"
        );
        let err = rel_err(&g_fused, &g_plain);
        assert!(
            err < 1e-6,
            "beta {beta} T {temperature}: gradient relative error {err}"
        );
        // masked rows get exactly zero gradient, counted rows not
        for r in 0..rows {
            let row = &g_fused[r * vocab..(r + 1) * vocab];
            let zero = row.iter().all(|&g| g == 0.0);
            assert_eq!(zero, weights[r] == 0.0, "beta {beta}: row {r}");
        }
    }
}
