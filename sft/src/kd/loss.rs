//! Distillation losses on rows of logits, as TRL's `GKDTrainer.generalized_jsd_loss`
//! defines them, computed as one fused op: the forward walks the rows in chunks across
//! threads (f64 accumulation, one row of scratch per thread, rows of weight 0 skipped)
//! and the backward recomputes each row's probabilities from the logits. Nothing of
//! size `rows × vocab` is allocated except the gradient itself.
//!
//! # The math
//!
//! For one row, `s = z_S / T` and `t = z_T / T` (`T` the temperature),
//! `ℓ = log p_S = log_softmax(s)`, `λ = log p_T = log_softmax(t)`:
//!
//! - `β = 0`, forward KL: `D = KL(p_T ‖ p_S) = Σ_k p_T,k (λ_k − ℓ_k)`;
//! - `β = 1`, reverse KL: `D = KL(p_S ‖ p_T) = Σ_k p_S,k (ℓ_k − λ_k)`;
//! - otherwise, with the mixture `m = (1 − β) p_S + β p_T`, the generalized JSD
//!   `D = β KL(p_T ‖ m) + (1 − β) KL(p_S ‖ m)`.
//!
//! There is no `T²` factor (TRL has none). Terms whose probability is exactly 0 count
//! 0. The loss is `Σ_r w_r · D_r`; TRL's "batchmean" with labels is this sum with
//! `w_r = 1` on the positions whose label is not −100, divided by their number.
//!
//! # The gradient (what the backward computes)
//!
//! Write `J` for the softmax Jacobian, `∂p_k/∂s_j = p_k (δ_kj − p_j)`, and note
//! `Σ_k ∂ℓ_k/∂s_j · p_k = Σ_k (δ_kj − p_j) p_k = 0`.
//!
//! - Forward KL: `∂D/∂s_j = −Σ_k p_T,k (δ_kj − p_S,j) = p_S,j − p_T,j` (since
//!   `Σ p_T = 1`).
//! - Reverse KL: `∂D/∂s_j = Σ_k p_S,k (δ_kj − p_S,j) g_k + Σ_k p_S,k ∂ℓ_k/∂s_j
//!   = p_S,j (g_j − Σ_k p_S,k g_k)` with `g = ℓ − λ` (the second sum is 0).
//! - JSD: as a function of `p = p_S`, `∂m_k/∂p_k = 1 − β`, so
//!   `∂D/∂p_k = −β p_T,k (1 − β)/m_k + (1 − β)(ℓ_k − log m_k + 1 − (1 − β) p_k / m_k)
//!   = (1 − β)(ℓ_k − log m_k + 1 − m_k / m_k) = (1 − β)(ℓ_k − log m_k)`;
//!   through `J` that gives `∂D/∂s_j = p_S,j (h_j − Σ_k p_S,k h_k)` with
//!   `h = (1 − β)(ℓ − log m)`.
//!
//! The gradient w.r.t. the raw student logits is that times `1/T`, times the row
//! weight `w_r` and the upstream gradient. The teacher gets no gradient.
//!
//! # Top-k teacher rows
//!
//! A cache of the teacher's `k` most likely tokens and their log-probabilities (at
//! temperature 1) does not hold the whole distribution. Each row is completed inside
//! the kernel (a scratch row per thread, never a dense `(rows, vocab)` tensor): the
//! `k` cached log-probabilities are kept and the remaining mass
//! `r = max(1 − Σ exp(lp), MIN_TAIL_MASS)` is spread evenly over the other `V − k`
//! tokens (`log(r / (V − k))` each). Those `V` log-probabilities are then treated
//! as logits: divided by `T` and renormalized. The result is exact when the
//! teacher's tail (the tokens outside the top `k`) is uniform, in particular when it
//! is empty (`k = V`) or holds no mass; otherwise the tail's shape is lost but its
//! total mass is kept.
//!
//! # Domain
//!
//! The fused op runs on f32 CPU student logits. Other dtypes or devices fall back to
//! [`kd_loss_sum_composed`] for dense teacher logits and are an error for top-k rows.

use crate::error::{Result, SftError};
use crate::fused::{Precomputed, par_rows, with_f32};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use super::loss_composed::kd_loss_sum_composed;

/// The smallest tail mass a top-k row is completed with, so the tail tokens keep a
/// finite log-probability when the cached mass rounds to 1 or above.
pub const MIN_TAIL_MASS: f64 = 1e-12;

/// How far above 0 a cached log-probability may be (rounding of a probability near 1
/// in f32) before it is rejected as not a log-probability.
const LOGPROB_SLACK: f32 = 1e-3;

/// Which divergence and at which temperature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KdLoss {
    /// Interpolation in `[0, 1]`: 0 = forward KL(teacher ‖ student), 1 = reverse
    /// KL(student ‖ teacher), in between the generalized JSD. Default 0.5 (TRL's).
    pub beta: f64,
    /// Softmax temperature applied to both sides' logits, finite and > 0. Default 1.0.
    pub temperature: f64,
}

impl Default for KdLoss {
    fn default() -> Self {
        KdLoss {
            beta: 0.5,
            temperature: 1.0,
        }
    }
}

impl KdLoss {
    /// Checks `beta ∈ [0, 1]` and a finite positive temperature.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.beta) {
            return Err(SftError::InvalidArgument(format!(
                "kd loss: beta must be in [0, 1], got {}",
                self.beta
            )));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(SftError::InvalidArgument(format!(
                "kd loss: temperature must be finite and > 0, got {}",
                self.temperature
            )));
        }
        Ok(())
    }

    /// The divergence `beta` selects (TRL compares `beta` to exactly 0 and 1).
    pub(crate) fn divergence(&self) -> Divergence {
        if self.beta == 0.0 {
            Divergence::Forward
        } else if self.beta == 1.0 {
            Divergence::Reverse
        } else {
            Divergence::Jsd {
                beta: self.beta,
                ln_student: (-self.beta).ln_1p(),
                ln_teacher: self.beta.ln(),
            }
        }
    }
}

/// The divergence of one row, with the JSD's mixture weights precomputed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Divergence {
    /// `KL(p_T ‖ p_S)`.
    Forward,
    /// `KL(p_S ‖ p_T)`.
    Reverse,
    /// `β KL(p_T ‖ m) + (1 − β) KL(p_S ‖ m)`.
    Jsd {
        /// β.
        beta: f64,
        /// `ln(1 − β)`, the student's log-weight in the mixture.
        ln_student: f64,
        /// `ln β`, the teacher's log-weight in the mixture.
        ln_teacher: f64,
    },
}

/// The teacher's side of the rows.
#[derive(Debug, Clone)]
pub enum TeacherRows {
    /// Dense logits, same shape as the student's logits (any leading dims, last =
    /// vocab); detached: no gradient flows to them.
    Logits(Tensor),
    /// Per row: `k` token ids and their teacher log-probabilities at temperature 1
    /// (from a top-k cache), completed as the module doc describes.
    TopK(TopKRows),
}

/// The teacher's top-k tokens per row, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct TopKRows {
    /// Tokens per row, `1..=vocab`.
    pub k: usize,
    /// `rows × k` token ids; distinct within a row and `< vocab`.
    pub ids: Vec<u32>,
    /// `rows × k` log-probabilities at temperature 1 (≤ 0; −∞ allowed).
    pub logprobs: Vec<f32>,
}

/// `Σ_r w_r · D(row r)` as a scalar f32 tensor; gradients flow to `student_logits`
/// only.
///
/// `student_logits` `(..., V)`; `weights` one per row (all dimensions but the last
/// flattened); a row with weight 0 is skipped entirely (its teacher entries are not
/// read or checked). Errors: an invalid [`KdLoss`], teacher logits of another shape,
/// a weight count other than the row count, a non-finite weight, and for top-k rows
/// a length other than `rows × k`, `k` outside `1..=V`, an id `≥ V` or repeated in a
/// row, a NaN or positive log-probability.
///
/// f32 CPU student logits run the fused op (the teacher's dense logits are moved to
/// the CPU as f32 if they are not). Other student logits take
/// [`kd_loss_sum_composed`] with dense teacher logits (the result cast to f32) and
/// are an error with top-k rows.
pub fn kd_loss_sum(
    student_logits: &Tensor,
    teacher: &TeacherRows,
    weights: &[f32],
    loss: &KdLoss,
) -> Result<Tensor> {
    loss.validate()?;
    if !crate::fused::fusable(&[student_logits]) {
        return match teacher {
            TeacherRows::Logits(t) => {
                Ok(kd_loss_sum_composed(student_logits, t, weights, loss)?.to_dtype(DType::F32)?)
            }
            TeacherRows::TopK(_) => Err(SftError::InvalidArgument(format!(
                "kd loss: top-k teacher rows need f32 student logits on the CPU, got {:?} on {:?}",
                student_logits.dtype(),
                student_logits.device()
            ))),
        };
    }
    let vocab = student_logits.dim(candle_core::D::Minus1)?;
    let rows = student_logits.elem_count() / vocab.max(1);
    check_weights(weights, rows)?;
    let teacher = match teacher {
        TeacherRows::Logits(t) => {
            if t.dims() != student_logits.dims() {
                return Err(SftError::InvalidArgument(format!(
                    "kd loss: teacher logits have shape {:?}, student logits {:?}",
                    t.dims(),
                    student_logits.dims()
                )));
            }
            let t = t
                .detach()
                .to_device(&Device::Cpu)?
                .to_dtype(DType::F32)?
                .contiguous()?;
            Teacher::Logits(t)
        }
        TeacherRows::TopK(top) => {
            check_top_k(top, rows, vocab, weights)?;
            Teacher::TopK(top.clone())
        }
    };
    let student = student_logits.contiguous()?;
    let kernel = Kernel {
        teacher,
        weights: weights.to_vec(),
        divergence: loss.divergence(),
        temperature: loss.temperature,
        vocab,
    };
    let total = kernel.forward(&student)?;
    let out = Tensor::new(total as f32, student.device())?;
    let op = KdOp {
        kernel: Arc::new(kernel),
        out: Precomputed::new(out),
    };
    Ok(student.apply_op1(op)?)
}

/// Checks one finite weight per row.
fn check_weights(weights: &[f32], rows: usize) -> Result<()> {
    if weights.len() != rows {
        return Err(SftError::InvalidArgument(format!(
            "kd loss: {} weights for {rows} rows of logits",
            weights.len()
        )));
    }
    if let Some((r, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
        return Err(SftError::InvalidArgument(format!(
            "kd loss: weight of row {r} is {w}"
        )));
    }
    Ok(())
}

/// Checks the top-k rows' lengths, and the ids and log-probabilities of the rows
/// that count (weight ≠ 0).
fn check_top_k(top: &TopKRows, rows: usize, vocab: usize, weights: &[f32]) -> Result<()> {
    let k = top.k;
    if k == 0 || k > vocab {
        return Err(SftError::InvalidArgument(format!(
            "kd loss: top-k rows with k = {k} for a vocabulary of {vocab} (need 1..={vocab})"
        )));
    }
    if top.ids.len() != rows * k || top.logprobs.len() != rows * k {
        return Err(SftError::InvalidArgument(format!(
            "kd loss: top-k rows hold {} ids and {} log-probabilities, expected {rows} rows × {k} = {}",
            top.ids.len(),
            top.logprobs.len(),
            rows * k
        )));
    }
    let mut sorted = Vec::with_capacity(k);
    for (r, _) in weights.iter().enumerate().filter(|(_, w)| **w != 0.0) {
        let ids = &top.ids[r * k..(r + 1) * k];
        let lps = &top.logprobs[r * k..(r + 1) * k];
        if let Some((i, id)) = ids
            .iter()
            .enumerate()
            .find(|(_, id)| **id as usize >= vocab)
        {
            return Err(SftError::InvalidArgument(format!(
                "kd loss: top-k row {r}, entry {i}: token id {id} is outside the vocabulary of {vocab}"
            )));
        }
        if let Some((i, lp)) = lps
            .iter()
            .enumerate()
            .find(|(_, lp)| lp.is_nan() || **lp > LOGPROB_SLACK)
        {
            return Err(SftError::InvalidArgument(format!(
                "kd loss: top-k row {r}, entry {i}: {lp} is not a log-probability"
            )));
        }
        sorted.clear();
        sorted.extend_from_slice(ids);
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(SftError::InvalidArgument(format!(
                "kd loss: top-k row {r} lists token id {} twice",
                w[0]
            )));
        }
    }
    Ok(())
}

/// The teacher as the kernel reads it: contiguous f32 CPU logits, or top-k rows.
#[derive(Debug)]
enum Teacher {
    /// Dense logits, same shape as the student's.
    Logits(Tensor),
    /// Top-k rows, checked.
    TopK(TopKRows),
}

/// Everything one row's computation needs, shared by the forward and the backward.
#[derive(Debug)]
struct Kernel {
    teacher: Teacher,
    weights: Vec<f32>,
    divergence: Divergence,
    temperature: f64,
    vocab: usize,
}

/// Per-thread scratch: one row of student and one of teacher log-probabilities.
struct Scratch {
    /// `ℓ = log_softmax(z_S / T)`.
    student: Vec<f64>,
    /// `λ = log_softmax(z_T / T)`, later reused for `h` in the backward.
    teacher: Vec<f64>,
}

impl Kernel {
    /// `Σ_r w_r D_r` over all rows, in f64, rows split across threads.
    fn forward(&self, student: &Tensor) -> Result<f64> {
        let v = self.vocab;
        let rows = student.elem_count() / v.max(1);
        let total = with_f32(student, |z| {
            self.with_teacher(|teacher| {
                let threads = std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .min(rows.max(1));
                let per = rows.div_ceil(threads.max(1)).max(1);
                let range_sum = |first: usize| {
                    let mut scratch = self.scratch();
                    (first..(first + per).min(rows))
                        .filter(|&r| self.weights[r] != 0.0)
                        .map(|r| {
                            self.fill_row(r, z, teacher, &mut scratch);
                            self.weights[r] as f64 * self.row_value(&scratch)
                        })
                        .sum::<f64>()
                };
                if threads <= 1 {
                    return range_sum(0);
                }
                let range_sum = &range_sum;
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..rows)
                        .step_by(per)
                        .map(|first| s.spawn(move || range_sum(first)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or(f64::NAN))
                        .sum()
                })
            })
        })??;
        Ok(total)
    }

    /// `∂(g · Σ_r w_r D_r)/∂z_S`, a fresh `(rows, V)` buffer.
    fn backward(&self, student: &Tensor, g: f64) -> candle_core::Result<Vec<f32>> {
        let v = self.vocab;
        let rows = student.elem_count() / v.max(1);
        let mut out = vec![0f32; rows * v];
        with_f32(student, |z| {
            self.with_teacher(|teacher| {
                par_rows(rows, v, &mut out, |first, chunk| {
                    let mut scratch: Option<Scratch> = None;
                    for (i, o) in chunk.chunks_mut(v).enumerate() {
                        let r = first + i;
                        let w = self.weights[r];
                        if w == 0.0 {
                            continue;
                        }
                        let scratch = scratch.get_or_insert_with(|| self.scratch());
                        self.fill_row(r, z, teacher, scratch);
                        self.row_grad(scratch, w as f64 * g / self.temperature, o);
                    }
                });
            })
        })??;
        Ok(out)
    }

    /// Runs `f` on the dense teacher logits' elements (an empty slice for top-k).
    fn with_teacher<R>(&self, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
        match &self.teacher {
            Teacher::Logits(t) => with_f32(t, f),
            Teacher::TopK(_) => Ok(f(&[])),
        }
    }

    /// Two rows of scratch.
    fn scratch(&self) -> Scratch {
        Scratch {
            student: vec![0.0; self.vocab],
            teacher: vec![0.0; self.vocab],
        }
    }

    /// Fills the scratch with row `r`'s tempered log-probabilities of both sides.
    fn fill_row(&self, r: usize, z: &[f32], dense: &[f32], s: &mut Scratch) {
        let v = self.vocab;
        let t = self.temperature;
        for (o, &x) in s.student.iter_mut().zip(&z[r * v..(r + 1) * v]) {
            *o = x as f64 / t;
        }
        match &self.teacher {
            Teacher::Logits(_) => {
                for (o, &x) in s.teacher.iter_mut().zip(&dense[r * v..(r + 1) * v]) {
                    *o = x as f64 / t;
                }
            }
            Teacher::TopK(top) => {
                let k = top.k;
                let ids = &top.ids[r * k..(r + 1) * k];
                let lps = &top.logprobs[r * k..(r + 1) * k];
                let mass: f64 = lps.iter().map(|&lp| (lp as f64).exp()).sum();
                let tail = ((1.0 - mass).max(MIN_TAIL_MASS) / (v - k).max(1) as f64).ln();
                s.teacher.fill(tail / t);
                for (&id, &lp) in ids.iter().zip(lps) {
                    s.teacher[id as usize] = lp as f64 / t;
                }
            }
        }
        log_softmax_in_place(&mut s.student);
        log_softmax_in_place(&mut s.teacher);
    }

    /// `D` of the row whose log-probabilities are in the scratch.
    fn row_value(&self, s: &Scratch) -> f64 {
        let (ls, lq) = (&s.student, &s.teacher);
        match self.divergence {
            Divergence::Forward => ls.iter().zip(lq).map(|(&l, &q)| xlogy_term(q, q - l)).sum(),
            Divergence::Reverse => ls.iter().zip(lq).map(|(&l, &q)| xlogy_term(l, l - q)).sum(),
            Divergence::Jsd {
                beta,
                ln_student,
                ln_teacher,
            } => {
                let (mut kl_t, mut kl_s) = (0.0, 0.0);
                for (&l, &q) in ls.iter().zip(lq) {
                    let lm = log_add_exp(l + ln_student, q + ln_teacher);
                    kl_t += xlogy_term(q, q - lm);
                    kl_s += xlogy_term(l, l - lm);
                }
                beta * kl_t + (1.0 - beta) * kl_s
            }
        }
    }

    /// Writes `c · ∂D/∂s` of the row in the scratch into `out` (`c = w g / T`);
    /// overwrites the scratch's teacher row.
    fn row_grad(&self, s: &mut Scratch, c: f64, out: &mut [f32]) {
        let ls = &s.student;
        match self.divergence {
            Divergence::Forward => {
                for ((o, &l), &q) in out.iter_mut().zip(ls).zip(&s.teacher) {
                    *o = (c * (l.exp() - q.exp())) as f32;
                }
                return;
            }
            // h = g = ℓ − λ
            Divergence::Reverse => {
                for (h, &l) in s.teacher.iter_mut().zip(ls) {
                    *h = l - *h;
                }
            }
            // h = (1 − β)(ℓ − log m)
            Divergence::Jsd {
                beta,
                ln_student,
                ln_teacher,
            } => {
                for (h, &l) in s.teacher.iter_mut().zip(ls) {
                    *h = (1.0 - beta) * (l - log_add_exp(l + ln_student, *h + ln_teacher));
                }
            }
        }
        // p_j (h_j − Σ_k p_k h_k), with 0 wherever p_j = 0
        let mean: f64 = ls
            .iter()
            .zip(&s.teacher)
            .map(|(&l, &h)| xlogy_term(l, h))
            .sum();
        for ((o, &l), &h) in out.iter_mut().zip(ls).zip(&s.teacher) {
            *o = (c * xlogy_term(l, h - mean)) as f32;
        }
    }
}

/// `exp(log_p) · x`, taken as 0 where the probability is exactly 0 (so that
/// `0 · ∞` counts 0, as in the definition of KL).
fn xlogy_term(log_p: f64, x: f64) -> f64 {
    if log_p == f64::NEG_INFINITY {
        0.0
    } else {
        log_p.exp() * x
    }
}

/// `log(exp(a) + exp(b))` without overflow.
fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + (-(a - b).abs()).exp().ln_1p()
}

/// Replaces `x` by `log_softmax(x)`.
fn log_softmax_in_place(x: &mut [f64]) {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + x.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
    for v in x {
        *v -= lse;
    }
}

/// The custom op attaching the precomputed loss to the student logits.
struct KdOp {
    kernel: Arc<Kernel>,
    out: Precomputed,
}

impl CustomOp1 for KdOp {
    fn name(&self) -> &'static str {
        "fused-kd-loss"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.out.take()
    }

    fn bwd(
        &self,
        student: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let g = grad.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let out = self.kernel.backward(student, g)?;
        Ok(Some(Tensor::from_vec(
            out,
            student.shape(),
            student.device(),
        )?))
    }
}
