//! The memory benchmark behind `distill bench kd`: forward + backward of the
//! distillation loss on random `(rows, vocab)` student and teacher logits, once
//! composed from candle ops (every intermediate alive until backward) and once as the
//! fused chunked op, in the same process. Each variant's peak is measured by
//! resetting the kernel's resident-set high-water mark first (Linux: writing `5` to
//! `/proc/self/clear_refs` resets `VmHWM` to the current `VmRSS`) and reading
//! `VmHWM` afterwards; the reported figure is the peak above the resident size at the
//! reset, so inputs allocated before count in neither. The fused op's backward
//! allocates one gradient buffer; candle's gradient store then adds it to a fresh
//! zero tensor, so its peak is about two `(rows, vocab)` tensors.

use super::loss::{KdLoss, TeacherRows, kd_loss_sum, kd_loss_sum_composed};
use crate::error::{Result, SftError};
use crate::rng::Rng;
use crate::train::peak_rss_bytes;
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KdBenchConfig {
    /// Rows (trained positions) of logits. Default 512.
    pub rows: usize,
    /// Vocabulary size. Default 151,936 (Qwen2.5's).
    pub vocab: usize,
    /// The divergence. Default: JSD with β = 0.5 at temperature 1.
    pub loss: KdLoss,
    /// Seed of the random logits. Default 0.
    pub seed: u64,
}

impl Default for KdBenchConfig {
    fn default() -> Self {
        KdBenchConfig {
            rows: 512,
            vocab: 151_936,
            loss: KdLoss::default(),
            seed: 0,
        }
    }
}

/// What one variant measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KdBenchVariant {
    /// Seconds of forward + backward.
    pub seconds: f64,
    /// Peak resident memory above the resident size when the variant started, bytes
    /// (absent where `VmHWM` cannot be reset or read).
    pub peak_extra_bytes: Option<u64>,
    /// The loss value (the sum over rows).
    pub loss: f32,
}

/// Both variants on the same inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KdBenchResult {
    /// The unchunked composition of candle ops.
    pub composed: KdBenchVariant,
    /// The fused chunked op.
    pub fused: KdBenchVariant,
    /// Size of one `(rows, vocab)` f32 tensor, bytes (the gradient's size).
    pub logits_bytes: u64,
    /// `max |g_fused − g_composed| / max |g_composed|` of the gradients.
    pub grad_rel_diff: f64,
}

/// Resets the process's `VmHWM` to its current `VmRSS`; false where that is not
/// possible (not Linux, or `/proc` not writable).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's current resident set size (`VmRSS`), if known.
pub fn current_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `f` and returns its output with the peak resident memory above the resident
/// size at the start (`None` where the high-water mark cannot be reset or read).
pub fn measure_peak<R>(f: impl FnOnce() -> R) -> (R, Option<u64>) {
    let reset = reset_peak_rss();
    let base = current_rss_bytes();
    let out = f();
    let peak = match (reset, base, peak_rss_bytes()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    (out, peak)
}

/// Runs both variants on the CPU and compares them.
pub fn bench_kd(cfg: &KdBenchConfig) -> Result<KdBenchResult> {
    cfg.loss.validate()?;
    if cfg.rows == 0 || cfg.vocab == 0 {
        return Err(SftError::InvalidArgument(format!(
            "bench kd: rows ({}) and vocab ({}) must be positive",
            cfg.rows, cfg.vocab
        )));
    }
    let n = cfg.rows * cfg.vocab;
    let mut rng = Rng::new(cfg.seed);
    let dev = Device::Cpu;
    let student = Var::from_tensor(&Tensor::from_vec(
        rng.normal_vec(n, 2.0),
        (cfg.rows, cfg.vocab),
        &dev,
    )?)?;
    let teacher = Tensor::from_vec(rng.normal_vec(n, 3.0), (cfg.rows, cfg.vocab), &dev)?;
    let weights = vec![1f32; cfg.rows];
    let s = student.as_tensor();

    let run = |fused: bool| -> Result<(KdBenchVariant, Tensor)> {
        let start = Instant::now();
        let (out, peak) = measure_peak(|| -> Result<(f32, Tensor)> {
            let loss = if fused {
                kd_loss_sum(
                    s,
                    &TeacherRows::Logits(teacher.clone()),
                    &weights,
                    &cfg.loss,
                )?
            } else {
                kd_loss_sum_composed(s, &teacher, &weights, &cfg.loss)?
            };
            let grads = loss.backward()?;
            let g = grads.get(s).cloned().ok_or_else(|| {
                SftError::InvalidArgument("bench kd: no gradient for the student logits".into())
            })?;
            Ok((loss.to_scalar::<f32>()?, g))
        });
        let seconds = start.elapsed().as_secs_f64();
        let (loss, grad) = out?;
        Ok((
            KdBenchVariant {
                seconds,
                peak_extra_bytes: peak,
                loss,
            },
            grad,
        ))
    };
    // The fused op first: memory a variant frees may be reused by the next one
    // without showing in its peak, and that favours the second (the baseline).
    let (fused, g_fused) = run(true)?;
    let (composed, g_composed) = run(false)?;
    let diff = (&g_fused - &g_composed)?
        .abs()?
        .max_all()?
        .to_scalar::<f32>()? as f64;
    let scale = g_composed.abs()?.max_all()?.to_scalar::<f32>()? as f64;
    Ok(KdBenchResult {
        composed,
        fused,
        logits_bytes: (n * 4) as u64,
        grad_rel_diff: diff / scale.max(1e-30),
    })
}
