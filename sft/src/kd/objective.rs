//! The distillation [`Objective`]: on the trained positions, the divergence between
//! the teacher's and the student's token distributions ([`KdLoss`]), mixed with the
//! usual cross-entropy:
//!
//! `loss = (1 − ce_weight) · D(teacher ‖ student) + ce_weight · CE`
//!
//! both summed over trained tokens (the trainer divides by the step's trained
//! tokens). On-policy steps train on the student's own samples, which have no
//! reference answer, so there the loss is `D` alone (as TRL's GKD). Logged as
//! `kd_loss` and `ce_loss`; on held-out data also `kl`, the forward KL(teacher ‖
//! student) at temperature 1, whatever the training divergence.

use super::loss::{KdLoss, TeacherRows, kd_loss_sum};
use super::on_policy::OnPolicy;
use super::topk_cache::TopKCache;
use crate::data::{Batch, Example};
use crate::error::{Result, SftError};
use crate::linear::ForwardCtx;
use crate::loss::{causal_lm_loss, next_token_rows, token_hits};
use crate::model::CausalLm;
use crate::objective::{ExampleKey, MicroLoss, Objective};
use candle_core::{DType, Tensor};

/// Where the teacher's distributions come from.
#[derive(Debug)]
pub enum Teacher {
    /// A frozen model run on every micro-batch (exact).
    Model {
        /// The model (no trainable parameters).
        model: Box<CausalLm>,
        /// What it was loaded from (for the fingerprint).
        name: String,
    },
    /// Top-k log-probabilities computed ahead of time (approximate tail).
    Cache(Box<TopKCache>),
}

/// Logit distillation from a teacher sharing the student's vocabulary.
#[derive(Debug)]
pub struct Distillation {
    /// The teacher.
    pub teacher: Teacher,
    /// Divergence and temperature.
    pub loss: KdLoss,
    /// Weight of the cross-entropy on the data's answers, in `[0, 1]`.
    pub ce_weight: f64,
    /// On-policy sampling, if any.
    pub on_policy: Option<OnPolicy>,
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(f64::from(t.to_dtype(DType::F32)?.to_scalar::<f32>()?))
}

impl Distillation {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.loss.validate()?;
        if !(0.0..=1.0).contains(&self.ce_weight) {
            return Err(SftError::InvalidArgument(format!(
                "ce-weight {} must be in [0, 1]",
                self.ce_weight
            )));
        }
        if let Some(p) = &self.on_policy {
            p.validate()?;
            if p.fraction > 0.0 && matches!(self.teacher, Teacher::Cache(_)) {
                return Err(SftError::InvalidArgument(
                    "on-policy distillation scores the student's own samples, so it needs a teacher model, not a top-k cache".into(),
                ));
            }
        }
        Ok(())
    }

    fn teacher_rows(&self, b: &Batch, keys: &[ExampleKey], weights: &[f32]) -> Result<TeacherRows> {
        match &self.teacher {
            Teacher::Model { model, .. } => {
                let logits = model.forward(
                    &b.input_ids,
                    Some(&b.attention_mask),
                    Some(&b.position_ids),
                    &mut ForwardCtx::eval(),
                )?;
                Ok(TeacherRows::Logits(logits.detach()))
            }
            Teacher::Cache(cache) => {
                let (_, seq) = b.input_ids.dims2()?;
                Ok(TeacherRows::TopK(cache.rows(keys, weights, seq)?))
            }
        }
    }
}

impl Objective for Distillation {
    fn fingerprint(&self) -> serde_json::Value {
        let teacher = match &self.teacher {
            Teacher::Model { name, .. } => serde_json::json!({ "model": name }),
            Teacher::Cache(c) => serde_json::json!({ "cache": c.meta }),
        };
        serde_json::json!({
            "kind": "kd",
            "teacher": teacher,
            "beta": self.loss.beta,
            "temperature": self.loss.temperature,
            "ce_weight": self.ce_weight,
            "on_policy": self.on_policy,
        })
    }

    fn step_examples(
        &mut self,
        model: &CausalLm,
        step: u64,
        examples: Vec<(Example, ExampleKey)>,
    ) -> Result<Vec<(Example, ExampleKey)>> {
        match &self.on_policy {
            Some(p) if p.is_on_policy_step(step) => p.resample(model, step, examples),
            _ => Ok(examples),
        }
    }

    fn micro_batch(
        &mut self,
        model: &CausalLm,
        b: &Batch,
        keys: &[ExampleKey],
        ctx: &mut ForwardCtx,
    ) -> Result<MicroLoss> {
        let evaluating = ctx.rng.is_none();
        let logits = model.forward(
            &b.input_ids,
            Some(&b.attention_mask),
            Some(&b.position_ids),
            ctx,
        )?;
        let (_, weights, _) = next_token_rows(&b.input_ids, &b.loss_mask)?;
        let teacher = self.teacher_rows(b, keys, &weights)?;
        let kd = kd_loss_sum(&logits, &teacher, &weights, &self.loss)?;
        let generated = keys.iter().all(Option::is_none);
        let mut extra = vec![("kd_loss", scalar(&kd)?)];
        let sum = if generated {
            kd
        } else {
            let ce = causal_lm_loss(&logits, &b.input_ids, &b.loss_mask)?.sum;
            extra.push(("ce_loss", scalar(&ce)?));
            ((kd * (1.0 - self.ce_weight))? + (ce * self.ce_weight)?)?
        };
        if evaluating {
            let forward_kl = KdLoss {
                beta: 0.0,
                temperature: 1.0,
            };
            let kl = kd_loss_sum(&logits.detach(), &teacher, &weights, &forward_kl)?;
            extra.push(("kl", scalar(&kl)?));
        }
        let (hits, counted) = token_hits(&logits, &b.input_ids, &b.loss_mask)?;
        Ok(MicroLoss {
            sum,
            hits,
            counted,
            extra,
        })
    }
}
