//! On-policy distillation (GKD's λ): on a seeded fraction of steps the student
//! answers the step's prompts itself and learns the teacher's distributions on its
//! own tokens, so it is corrected where it actually goes wrong.
//!
//! Sampling reruns the training model on the whole sequence for every new token (no
//! KV cache: the trained model changes every step, and completions are short), so
//! its cost grows with `max_new_tokens²`; keep completions short.

use crate::data::Example;
use crate::error::{Result, SftError};
use crate::generate::{Sampler, SamplingConfig};
use crate::linear::ForwardCtx;
use crate::model::CausalLm;
use crate::objective::ExampleKey;
use crate::rng::Rng;
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

/// When and how the student samples its own completions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnPolicy {
    /// Fraction of steps (λ) trained on student samples, in `[0, 1]`.
    pub fraction: f64,
    /// Most tokens per sampled completion.
    pub max_new_tokens: usize,
    /// Sampling temperature (0 = greedy).
    pub temperature: f32,
    /// Seed of the step draw and the samples.
    pub seed: u64,
    /// Tokens that end a completion (kept as its last token).
    pub eos: Vec<u32>,
}

impl OnPolicy {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.fraction) {
            return Err(SftError::InvalidArgument(format!(
                "on-policy fraction {} must be in [0, 1]",
                self.fraction
            )));
        }
        if self.fraction > 0.0 && self.max_new_tokens == 0 {
            return Err(SftError::InvalidArgument(
                "on-policy max-new-tokens must be positive".into(),
            ));
        }
        SamplingConfig {
            temperature: self.temperature,
            top_p: 1.0,
            seed: 0,
        }
        .validate()
    }

    /// Whether step `step` (0-based) trains on student samples: a draw seeded by
    /// (seed, step), so a resumed run makes the same choice.
    pub fn is_on_policy_step(&self, step: u64) -> bool {
        if self.fraction <= 0.0 {
            return false;
        }
        let mut rng = Rng::new(self.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        f64::from(rng.uniform()) < self.fraction
    }

    /// The step's examples with each completion replaced by one the student samples
    /// after the example's prompt (the tokens before its first trained token).
    /// Examples without a prompt are kept as they are.
    pub fn resample(
        &self,
        model: &CausalLm,
        step: u64,
        examples: Vec<(Example, ExampleKey)>,
    ) -> Result<Vec<(Example, ExampleKey)>> {
        let mut out = Vec::with_capacity(examples.len());
        for (i, (e, key)) in examples.into_iter().enumerate() {
            let Some(prompt_len) = e.loss_mask.iter().position(|&m| m != 0) else {
                out.push((e, key));
                continue;
            };
            if prompt_len == 0 {
                out.push((e, key));
                continue;
            }
            let seed = self.seed ^ (step << 20) ^ i as u64;
            let prompt = &e.input_ids[..prompt_len];
            let completion = self.sample(model, prompt, seed)?;
            let mut input_ids = prompt.to_vec();
            input_ids.extend_from_slice(&completion);
            let mut loss_mask = vec![0u8; prompt_len];
            loss_mask.extend(std::iter::repeat_n(1u8, completion.len()));
            out.push((
                Example {
                    input_ids,
                    loss_mask,
                    position_ids: None,
                },
                None,
            ));
        }
        Ok(out)
    }

    /// Up to `max_new_tokens` tokens sampled from `model` after `prompt`.
    fn sample(&self, model: &CausalLm, prompt: &[u32], seed: u64) -> Result<Vec<u32>> {
        let mut sampler = Sampler::new(SamplingConfig {
            temperature: self.temperature,
            top_p: 1.0,
            seed,
        })?;
        let mut tokens = prompt.to_vec();
        let mut out = Vec::new();
        while out.len() < self.max_new_tokens {
            let ids = Tensor::from_slice(&tokens, (1, tokens.len()), model.device())?;
            let logits = model.forward(&ids, None, None, &mut ForwardCtx::eval())?;
            let last = logits
                .narrow(1, tokens.len() - 1, 1)?
                .squeeze(1)?
                .squeeze(0)?
                .to_dtype(DType::F32)?
                .detach();
            let next = sampler.sample(&last.to_vec1::<f32>()?)?;
            tokens.push(next);
            out.push(next);
            if self.eos.contains(&next) {
                break;
            }
        }
        Ok(out)
    }
}
