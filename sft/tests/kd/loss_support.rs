//! Helpers of the loss tests: seeded logits, the mean loss and its gradient through
//! the fused and the composed path, and error measures.

use candle_core::{DType, Device, Tensor, Var};
use sft::kd::loss::{KdLoss, TeacherRows, kd_loss_sum, kd_loss_sum_composed};
use sft::rng::Rng;

/// `n` seeded samples `mean + std·N(0, 1)`.
pub fn randn(seed: u64, n: usize, mean: f32, std: f32) -> Vec<f32> {
    Rng::new(seed)
        .normal_vec(n, std)
        .into_iter()
        .map(|x| x + mean)
        .collect()
}

/// Weights 1 on counted rows, and their number.
pub fn count(weights: &[f32]) -> usize {
    weights.iter().filter(|&&w| w != 0.0).count()
}

/// The mean loss `kd_loss_sum / n` of the fused op on f32 logits of `shape`, and the
/// gradient of that mean w.r.t. the student logits (flattened).
pub fn fused_mean(
    student: &[f32],
    shape: &[usize],
    teacher: TeacherRows,
    weights: &[f32],
    loss: &KdLoss,
) -> (f64, Vec<f64>) {
    let s = Var::from_tensor(&Tensor::from_slice(student, shape, &Device::Cpu).unwrap()).unwrap();
    let sum = kd_loss_sum(s.as_tensor(), &teacher, weights, loss).unwrap();
    assert_eq!(sum.dtype(), DType::F32);
    assert_eq!(sum.dims(), &[] as &[usize]);
    mean_and_grad(&sum, &s, count(weights))
}

/// The same through the composed path, on the given dtype (f64: the precise
/// reference; f32: the fallback's arithmetic).
pub fn composed_mean(
    student: &[f32],
    teacher: &[f32],
    shape: &[usize],
    weights: &[f32],
    loss: &KdLoss,
    dtype: DType,
) -> (f64, Vec<f64>) {
    let dev = Device::Cpu;
    let s = Tensor::from_slice(student, shape, &dev)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let s = Var::from_tensor(&s).unwrap();
    let t = Tensor::from_slice(teacher, shape, &dev).unwrap();
    let sum = kd_loss_sum_composed(s.as_tensor(), &t, weights, loss).unwrap();
    assert_eq!(sum.dtype(), dtype);
    mean_and_grad(&sum, &s, count(weights))
}

/// `sum / n` and its gradient w.r.t. `x`, as f64.
fn mean_and_grad(sum: &Tensor, x: &Var, n: usize) -> (f64, Vec<f64>) {
    let mean = (sum / n as f64).unwrap();
    let grads = mean.backward().unwrap();
    let g = grads
        .get(x.as_tensor())
        .expect("a gradient for the student logits")
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    // divided in f64: the only rounding left is the sum's own (f32: 6e-8 relative)
    let value = sum
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
        / n as f64;
    (value, g)
}

/// `max |a − b| / max |b|`.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths");
    let d = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let m = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    d / m.max(1e-30)
}

/// `log_softmax` of one row, in f64.
pub fn log_softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
    z.iter().map(|x| x - lse).collect()
}
