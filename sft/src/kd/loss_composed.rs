//! The distillation losses of [`super::loss`] built from candle ops with autograd,
//! unchunked: every `(rows, vocab)` intermediate stays alive until backward. It is
//! the reference the fused op is tested against, the memory baseline of
//! `distill bench kd`, and the path for student logits that are not f32 on the CPU.

use super::loss::{Divergence, KdLoss};
use crate::error::{Result, SftError};
use crate::ops::log_softmax_last_dim;
use candle_core::{D, DType, Tensor};

/// `Σ_r w_r · D(row r)` (see [`super::loss`] for `D`) as a scalar tensor, composed
/// from candle ops on the logits' device; gradients flow to `student_logits` only.
/// Computed in f64 when the student logits are f64 (the precise reference the tests
/// use), else in f32; the result has that dtype. Rows of weight 0 are computed and
/// multiplied by 0.
///
/// `student_logits` and `teacher_logits` `(..., V)` of the same shape, `weights` one
/// per row. Teacher probabilities of exactly 0 give NaN here (`0 · −∞`), unlike the
/// fused op.
pub fn kd_loss_sum_composed(
    student_logits: &Tensor,
    teacher_logits: &Tensor,
    weights: &[f32],
    loss: &KdLoss,
) -> Result<Tensor> {
    loss.validate()?;
    if teacher_logits.dims() != student_logits.dims() {
        return Err(SftError::InvalidArgument(format!(
            "kd loss: teacher logits have shape {:?}, student logits {:?}",
            teacher_logits.dims(),
            student_logits.dims()
        )));
    }
    let vocab = student_logits.dim(D::Minus1)?;
    let rows = student_logits.elem_count() / vocab.max(1);
    if weights.len() != rows {
        return Err(SftError::InvalidArgument(format!(
            "kd loss: {} weights for {rows} rows of logits",
            weights.len()
        )));
    }
    let device = student_logits.device();
    let dtype = match student_logits.dtype() {
        DType::F64 => DType::F64,
        _ => DType::F32,
    };
    let t = loss.temperature;
    // (rows, V)
    let s = (student_logits.to_dtype(dtype)?.reshape((rows, vocab))? / t)?;
    let q = (teacher_logits
        .detach()
        .to_device(device)?
        .to_dtype(dtype)?
        .reshape((rows, vocab))?
        / t)?;
    let ls = log_softmax_last_dim(&s)?;
    let lq = log_softmax_last_dim(&q)?;
    let per_elem = match loss.divergence() {
        Divergence::Forward => (lq.exp()? * (&lq - &ls)?)?,
        Divergence::Reverse => (ls.exp()? * (&ls - &lq)?)?,
        Divergence::Jsd {
            beta,
            ln_student,
            ln_teacher,
        } => {
            let a = (&ls + ln_student)?;
            let b = (&lq + ln_teacher)?;
            // log m = log(e^a + e^b), shifted by a constant (detached) max
            let mx = a.maximum(&b)?.detach();
            let lm = ((&a - &mx)?.exp()? + (&b - &mx)?.exp()?)?.log()?.add(&mx)?;
            let kl_t = (lq.exp()? * (&lq - &lm)?)?;
            let kl_s = (ls.exp()? * (&ls - &lm)?)?;
            ((kl_t * beta)? + (kl_s * (1.0 - beta))?)?
        }
    };
    // (rows,)
    let per_row = per_elem.sum(D::Minus1)?;
    let w = Tensor::from_slice(weights, rows, device)?.to_dtype(dtype)?;
    Ok((per_row * w)?.sum_all()?)
}
