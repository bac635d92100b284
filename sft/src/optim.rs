//! AdamW with decoupled weight decay (PyTorch's `torch.optim.AdamW` update, step by
//! step), f32 moments, and state that can be saved and restored exactly.

use crate::error::{Result, SftError};
use crate::fused;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Peak learning rate (the schedule multiplies it). Default 2e-4.
    pub lr: f64,
    /// First-moment decay. Default 0.9.
    pub beta1: f64,
    /// Second-moment decay. Default 0.999.
    pub beta2: f64,
    /// Denominator epsilon. Default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay (`p -= lr * wd * p`). Default 0.0.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 2e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamWConfig {
    /// Rejects NaN, infinite or out-of-range values.
    pub fn validate(&self) -> Result<()> {
        let ok = self.lr.is_finite()
            && self.lr >= 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps > 0.0
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(SftError::InvalidArgument(format!(
                "invalid AdamW settings {self:?}"
            )))
        }
    }
}

struct Slot {
    name: String,
    var: Var,
    m: Tensor,
    v: Tensor,
}

/// The optimizer over named parameters.
pub struct AdamW {
    config: AdamWConfig,
    steps: u64,
    slots: Vec<Slot>,
}

impl AdamW {
    /// An optimizer over `params` (name, variable) with zeroed moments.
    pub fn new(params: &[(String, Var)], config: AdamWConfig) -> Result<Self> {
        config.validate()?;
        let slots = params
            .iter()
            .map(|(name, var)| {
                // Two allocations: the fused step updates each moment in place.
                let zeros = || Tensor::zeros(var.shape(), DType::F32, var.device());
                Ok(Slot {
                    name: name.clone(),
                    var: var.clone(),
                    m: zeros()?,
                    v: zeros()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdamW {
            config,
            steps: 0,
            slots,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// How many steps have been taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update at learning rate `lr` (the schedule's value for this step).
    /// Parameters without a gradient in `grads` are left alone (their moments too).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        if !lr.is_finite() || lr < 0.0 {
            return Err(SftError::InvalidArgument(format!("learning rate {lr}")));
        }
        self.steps += 1;
        let c = self.config;
        let t = self.steps as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        for s in &mut self.slots {
            let Some(g) = grads.get(s.var.as_tensor()) else {
                continue;
            };
            if fused::adamw::applies(s.var.as_tensor(), g, &s.m, &s.v) {
                let scalars = fused::adamw::StepScalars {
                    decay: 1.0 - lr * c.weight_decay,
                    beta1: c.beta1,
                    beta2: c.beta2,
                    inv_bc2: 1.0 / bc2_sqrt,
                    eps: c.eps,
                    step: lr / bc1,
                };
                fused::adamw::step(s.var.as_tensor(), g, &s.m, &s.v, scalars)?;
                continue;
            }
            let g = g.detach().to_dtype(DType::F32)?;
            let p = s.var.as_tensor().detach().to_dtype(DType::F32)?;
            // decoupled decay first, as torch does
            let p = (p * (1.0 - lr * c.weight_decay))?;
            s.m = ((&s.m * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            s.v = ((&s.v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((s.v.sqrt()? / bc2_sqrt)? + c.eps)?;
            let update = (s.m.div(&denom)? * (lr / bc1))?;
            let p = (p - update)?.to_dtype(s.var.dtype())?;
            s.var.set(&p)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`{name}.exp_avg`, `{name}.exp_avg_sq`), for a
    /// checkpoint's safetensors file.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for s in &self.slots {
            out.insert(format!("{}.exp_avg", s.name), s.m.clone());
            out.insert(format!("{}.exp_avg_sq", s.name), s.v.clone());
        }
        out
    }

    /// Restores the moments and the step count saved by [`AdamW::state_tensors`].
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        for s in &mut self.slots {
            for (suffix, slot) in [("exp_avg", &mut s.m), ("exp_avg_sq", &mut s.v)] {
                let key = format!("{}.{suffix}", s.name);
                let t = tensors
                    .get(&key)
                    .ok_or_else(|| SftError::MissingTensor(key.clone()))?;
                if t.dims() != slot.dims() {
                    return Err(SftError::TensorShape {
                        name: key,
                        expected: slot.dims().to_vec(),
                        actual: t.dims().to_vec(),
                    });
                }
                // A copy of its own: the fused step writes the moments in place.
                *slot = t.to_dtype(DType::F32)?.to_device(s.var.device())?.copy()?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}
