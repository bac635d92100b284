//! What a training step minimizes. The [`crate::train::Trainer`] owns the loop
//! (step → data, accumulation, clipping, schedule, checkpoints, eval); an
//! [`Objective`] turns one micro-batch into a loss. [`CrossEntropy`] is supervised
//! fine-tuning; [`crate::kd`] plugs logit distillation in the same way.

use crate::data::{Batch, Example};
use crate::error::Result;
use crate::linear::ForwardCtx;
use crate::loss::{causal_lm_loss, token_hits};
use crate::model::CausalLm;
use candle_core::Tensor;

/// Which set an example comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// The training examples.
    Train,
    /// The held-out examples.
    Eval,
}

/// Where an example of a micro-batch comes from: its set and index there, or `None`
/// for an example the objective made itself (an on-policy sample).
pub type ExampleKey = Option<(Split, usize)>;

/// One micro-batch's loss.
#[derive(Debug, Clone)]
pub struct MicroLoss {
    /// The loss summed over the micro-batch's trained tokens: a differentiable scalar.
    /// The trainer divides it by the step's trained tokens.
    pub sum: Tensor,
    /// Argmax hits on the trained tokens.
    pub hits: usize,
    /// Trained tokens counted for the accuracy.
    pub counted: usize,
    /// Further per-token sums, logged as `name` = sum / trained tokens (`eval_name`
    /// on held-out data), e.g. the distillation and cross-entropy parts of a mixed loss.
    pub extra: Vec<(&'static str, f64)>,
}

/// A training objective: the loss of one micro-batch under the current model.
pub trait Objective: Send {
    /// Settings that change the numbers; part of the checkpoint fingerprint, so a
    /// checkpoint is never resumed under another objective.
    fn fingerprint(&self) -> serde_json::Value;

    /// The examples of optimizer step `step` (0-based), which the objective may
    /// replace (on-policy distillation swaps completions for the student's own
    /// samples, with key `None`). Must be a function of its inputs and `step` so
    /// that a resumed run repeats it. Default: unchanged.
    fn step_examples(
        &mut self,
        _model: &CausalLm,
        _step: u64,
        examples: Vec<(Example, ExampleKey)>,
    ) -> Result<Vec<(Example, ExampleKey)>> {
        Ok(examples)
    }

    /// The loss of one micro-batch: `batch` collates the examples whose keys are
    /// `keys`; `ctx` carries dropout (training) or none (eval).
    fn micro_batch(
        &mut self,
        model: &CausalLm,
        batch: &Batch,
        keys: &[ExampleKey],
        ctx: &mut ForwardCtx,
    ) -> Result<MicroLoss>;
}

/// Masked next-token cross-entropy on the trained tokens: supervised fine-tuning.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropy;

impl Objective for CrossEntropy {
    fn fingerprint(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn micro_batch(
        &mut self,
        model: &CausalLm,
        b: &Batch,
        _keys: &[ExampleKey],
        ctx: &mut ForwardCtx,
    ) -> Result<MicroLoss> {
        let logits = model.forward(
            &b.input_ids,
            Some(&b.attention_mask),
            Some(&b.position_ids),
            ctx,
        )?;
        let loss = causal_lm_loss(&logits, &b.input_ids, &b.loss_mask)?;
        let (hits, counted) = token_hits(&logits, &b.input_ids, &b.loss_mask)?;
        Ok(MicroLoss {
            sum: loss.sum,
            hits,
            counted,
            extra: Vec::new(),
        })
    }
}
