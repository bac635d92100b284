//! The DPO loss family on per-sequence log-probabilities, term for term as TRL's
//! `DPOTrainer` (1.16) computes it, on candle tensors so gradients reach the policy.
//!
//! Notation for pair `i` of a batch of `B`: `πc`, `πr` are the policy's summed
//! log-probabilities of the chosen and rejected completions, `rc`, `rr` the reference
//! model's, `nc`, `nr` their token counts, and
//!
//! ```text
//! δ_i = (πc - rc) - (πr - rr)          (difference of the two log-ratios)
//! δ̄_i = (πc - rc) / nc - (πr - rr) / nr (the same, per token)
//! logσ(x) = log(sigmoid(x))
//! ```
//!
//! A configured loss is `Σ_k w_k · mean_i ℓ_k(i)` over its terms, as TRL's
//! `loss_type` / `loss_weights` lists combine them.

use crate::error::{DpoError, Result};
use crate::metrics::PreferenceMetrics;
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One loss of the family. Names (for [`FromStr`] and serde) are TRL's `loss_type`
/// strings, plus `cdpo`, which TRL ≥ 0.28 no longer has as a loss type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// DPO (Rafailov et al. 2023): `ℓ = -logσ(β δ)`.
    Sigmoid,
    /// IPO (Azar et al. 2023, Eq. 17), length-normalized as TRL does:
    /// `ℓ = (δ̄ - 1/(2β))²`.
    Ipo,
    /// SLiC hinge (Zhao et al. 2023): `ℓ = max(0, 1 - β δ)`.
    Hinge,
    /// Robust DPO (Chowdhury et al. 2024) with flip rate `ε = label_smoothing`:
    /// `ℓ = ((1-ε)(-logσ(β δ)) - ε(-logσ(-β δ))) / (1 - 2ε)`.
    Robust,
    /// Conservative DPO (Mitchell 2023, "A note on DPO with noisy preferences"),
    /// DPO with label smoothing `ε = label_smoothing`:
    /// `ℓ = -(1-ε) logσ(β δ) - ε logσ(-β δ)`. This was TRL ≤ 0.27's `sigmoid` with
    /// `label_smoothing > 0`; TRL 1.16 computes the same formula as `aot` on one pair.
    Cdpo,
    /// DPO on per-token log-ratios (TRL's `sigmoid_norm`): `ℓ = -logσ(β δ̄)`.
    SigmoidNorm,
    /// NLL of the chosen completions, the mean over all chosen tokens of the batch
    /// (TRL's `sft` loss type; `loss_type=["sigmoid","sft"]`, `loss_weights=[1, α]`
    /// is RPO's `rpo_alpha = α`, and Llama 3's recipe used α = 0.2):
    /// `ℓ = -Σ_i πc_i / Σ_i nc_i`, the same for every pair.
    Sft,
}

impl LossKind {
    /// Every kind, in a fixed order.
    pub const ALL: [LossKind; 7] = [
        LossKind::Sigmoid,
        LossKind::Ipo,
        LossKind::Hinge,
        LossKind::Robust,
        LossKind::Cdpo,
        LossKind::SigmoidNorm,
        LossKind::Sft,
    ];

    /// The name used by TRL's `loss_type` (and `cdpo` for conservative DPO).
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Sigmoid => "sigmoid",
            LossKind::Ipo => "ipo",
            LossKind::Hinge => "hinge",
            LossKind::Robust => "robust",
            LossKind::Cdpo => "cdpo",
            LossKind::SigmoidNorm => "sigmoid_norm",
            LossKind::Sft => "sft",
        }
    }
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LossKind {
    type Err = DpoError;

    fn from_str(s: &str) -> Result<Self> {
        LossKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| DpoError::UnknownLoss(s.to_string()))
    }
}

/// One weighted term of a combined loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossTerm {
    /// Which loss.
    pub kind: LossKind,
    /// Its weight in the sum. TRL's default is 1.0.
    pub weight: f64,
}

impl LossTerm {
    /// Parses CLI-style lists: `names` such as `"sigmoid,sft"` and optional `weights`
    /// such as `"1,0.2"` (default: 1.0 for every term, as TRL's `loss_weights=None`).
    pub fn parse_list(names: &str, weights: Option<&str>) -> Result<Vec<LossTerm>> {
        let kinds = names
            .split(',')
            .map(LossKind::from_str)
            .collect::<Result<Vec<_>>>()?;
        let weights = match weights {
            None => vec![1.0; kinds.len()],
            Some(w) => w
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse::<f64>()
                        .map_err(|e| DpoError::InvalidConfig(format!("loss weight `{x}`: {e}")))
                })
                .collect::<Result<Vec<_>>>()?,
        };
        if weights.len() != kinds.len() {
            return Err(DpoError::InvalidConfig(format!(
                "{} loss types but {} loss weights",
                kinds.len(),
                weights.len()
            )));
        }
        Ok(kinds
            .into_iter()
            .zip(weights)
            .map(|(kind, weight)| LossTerm { kind, weight })
            .collect())
    }
}

/// Settings of the preference loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreferenceLossConfig {
    /// β, the strength of the tie to the reference model (IPO's τ). Default 0.1
    /// (TRL's default and Llama 3's value).
    pub beta: f64,
    /// ε for `robust` (flip probability, in `[0, 0.5)`) and `cdpo` (in `[0, 0.5]`).
    /// Default 0.0.
    pub label_smoothing: f64,
    /// The weighted terms. Default `[sigmoid × 1.0]`.
    pub terms: Vec<LossTerm>,
}

impl Default for PreferenceLossConfig {
    fn default() -> Self {
        PreferenceLossConfig {
            beta: 0.1,
            label_smoothing: 0.0,
            terms: vec![LossTerm {
                kind: LossKind::Sigmoid,
                weight: 1.0,
            }],
        }
    }
}

impl PreferenceLossConfig {
    /// Llama 3's recipe: DPO with β = 0.1 plus the chosen-response NLL with weight 0.2.
    pub fn llama3() -> Self {
        PreferenceLossConfig {
            terms: vec![
                LossTerm {
                    kind: LossKind::Sigmoid,
                    weight: 1.0,
                },
                LossTerm {
                    kind: LossKind::Sft,
                    weight: 0.2,
                },
            ],
            ..Self::default()
        }
    }

    /// Rejects settings that cannot produce a finite loss.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DpoError::InvalidConfig(m));
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return bad(format!(
                "beta must be positive and finite, got {}",
                self.beta
            ));
        }
        let eps = self.label_smoothing;
        if !(0.0..=0.5).contains(&eps) {
            return bad(format!("label_smoothing must lie in [0, 0.5], got {eps}"));
        }
        if self.terms.is_empty() {
            return bad("at least one loss term is needed".into());
        }
        for t in &self.terms {
            if !(t.weight.is_finite() && t.weight >= 0.0) {
                return bad(format!(
                    "weight of `{}` must be finite and non-negative, got {}",
                    t.kind, t.weight
                ));
            }
            if t.kind == LossKind::Robust && eps >= 0.5 {
                return bad(format!(
                    "robust needs label_smoothing in [0, 0.5), got {eps}"
                ));
            }
        }
        Ok(())
    }
}

/// Per-sequence summed log-probabilities of a batch of `B` preference pairs.
///
/// The four tensors are `(B,)` and share one float dtype and device; the reference
/// ones are treated as constants (detached). Token counts are the completion lengths
/// the sums ran over; each must be at least 1.
#[derive(Debug, Clone)]
pub struct PairLogps {
    /// Policy log p(chosen | prompt), `(B,)`.
    pub policy_chosen: Tensor,
    /// Policy log p(rejected | prompt), `(B,)`.
    pub policy_rejected: Tensor,
    /// Reference log p(chosen | prompt), `(B,)`.
    pub ref_chosen: Tensor,
    /// Reference log p(rejected | prompt), `(B,)`.
    pub ref_rejected: Tensor,
    /// Completion tokens of each chosen answer.
    pub chosen_tokens: Vec<usize>,
    /// Completion tokens of each rejected answer.
    pub rejected_tokens: Vec<usize>,
}

impl PairLogps {
    /// The batch size, after checking that every field agrees on it.
    pub fn batch_size(&self) -> Result<usize> {
        let b = self.chosen_tokens.len();
        if b == 0 {
            return Err(DpoError::InvalidInput("empty batch".into()));
        }
        for (name, t) in [
            ("policy_chosen", &self.policy_chosen),
            ("policy_rejected", &self.policy_rejected),
            ("ref_chosen", &self.ref_chosen),
            ("ref_rejected", &self.ref_rejected),
        ] {
            if t.dims() != [b] {
                return Err(DpoError::InvalidInput(format!(
                    "{name} has shape {:?}, expected [{b}]",
                    t.dims()
                )));
            }
            if !t.dtype().is_float() {
                return Err(DpoError::InvalidInput(format!(
                    "{name} has dtype {:?}, expected a float type",
                    t.dtype()
                )));
            }
        }
        if self.rejected_tokens.len() != b {
            return Err(DpoError::InvalidInput(format!(
                "{} chosen token counts but {} rejected",
                b,
                self.rejected_tokens.len()
            )));
        }
        if let Some(i) = self
            .chosen_tokens
            .iter()
            .zip(&self.rejected_tokens)
            .position(|(&c, &r)| c == 0 || r == 0)
        {
            return Err(DpoError::InvalidInput(format!(
                "pair {i} has an empty completion"
            )));
        }
        Ok(b)
    }
}

/// The result of [`preference_loss`].
#[derive(Debug, Clone)]
pub struct PreferenceLoss {
    /// `Σ_k w_k · mean_i ℓ_k(i)`: a differentiable scalar.
    pub loss: Tensor,
    /// `Σ_k w_k · ℓ_k(i)` per pair, `(B,)`; its mean is `loss`. The `sft` term enters
    /// every pair with its batch-level value.
    pub per_pair: Tensor,
    /// Each term's unweighted batch mean `mean_i ℓ_k(i)`, a scalar, in config order.
    pub terms: Vec<(LossKind, Tensor)>,
    /// Implicit rewards `β (πc - rc)`, `(B,)`, detached.
    pub chosen_rewards: Tensor,
    /// Implicit rewards `β (πr - rr)`, `(B,)`, detached.
    pub rejected_rewards: Tensor,
    /// The batch's metrics under TRL's names.
    pub metrics: PreferenceMetrics,
}

/// `log σ(x) = -softplus(-x) = min(x, 0) - log(1 + exp(-|x|))`, stable for any `x`,
/// with the exact derivative `σ(-x)` everywhere, `x = 0` included.
///
/// The value's formula has kinks at 0 (`min`, `|x|`) that cancel mathematically, but
/// candle's backward takes `relu'(0) = abs'(0) = 1`, which made the derivative at
/// exactly 0 come out as 1.5 instead of 0.5: three times TRL's gradient for every pair
/// whose policy and reference log-probs are bitwise equal (step 1 of LoRA DPO, when both
/// passes compute them identically). So the value is taken detached and the gradient
/// attached through `x · σ(-x)` (detached factor), whose value cancels exactly.
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let min0 = x.neg()?.relu()?.neg()?;
    let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    let value = (min0 - tail)?.detach();
    // σ(-x) = 1 / (1 + exp(x)): 0 for large x (exp overflows to inf), 1 for very negative x.
    let slope = (x.exp()? + 1.0)?.recip()?.detach();
    let linear = (x * slope)?;
    Ok((value + (&linear - linear.detach())?)?)
}

/// Computes the configured loss, rewards and metrics for one batch of pairs.
pub fn preference_loss(cfg: &PreferenceLossConfig, lp: &PairLogps) -> Result<PreferenceLoss> {
    cfg.validate()?;
    let b = lp.batch_size()?;
    let dtype = lp.policy_chosen.dtype();
    let device = lp.policy_chosen.device();
    let beta = cfg.beta;
    let eps = cfg.label_smoothing;

    let ref_c = lp.ref_chosen.detach().to_dtype(dtype)?;
    let ref_r = lp.ref_rejected.detach().to_dtype(dtype)?;
    let pol_r = lp.policy_rejected.to_dtype(dtype)?;
    // log-ratios, (B,)
    let chosen_lr = (&lp.policy_chosen - &ref_c)?;
    let rejected_lr = (&pol_r - &ref_r)?;
    let counts = |c: &[usize]| -> Result<Tensor> {
        let v: Vec<f64> = c.iter().map(|&n| n as f64).collect();
        Ok(Tensor::from_vec(v, c.len(), device)?.to_dtype(dtype)?)
    };
    let nc = counts(&lp.chosen_tokens)?;
    let nr = counts(&lp.rejected_tokens)?;
    // δ and δ̄, (B,)
    let delta = (&chosen_lr - &rejected_lr)?;
    let delta_norm = (chosen_lr.div(&nc)? - rejected_lr.div(&nr)?)?;

    let mut total: Option<Tensor> = None;
    let mut per_pair: Option<Tensor> = None;
    let mut terms = Vec::with_capacity(cfg.terms.len());
    for term in &cfg.terms {
        // ℓ_k(i), (B,)
        let per_seq = match term.kind {
            // ℓ = -logσ(β δ)
            LossKind::Sigmoid => log_sigmoid(&(&delta * beta)?)?.neg()?,
            // ℓ = (δ̄ - 1/(2β))²
            LossKind::Ipo => (&delta_norm - 1.0 / (2.0 * beta))?.sqr()?,
            // ℓ = max(0, 1 - β δ)
            LossKind::Hinge => (&delta * -beta)?.affine(1.0, 1.0)?.relu()?,
            // ℓ = ((1-ε)(-logσ(β δ)) - ε(-logσ(-β δ))) / (1 - 2ε)
            LossKind::Robust => {
                let clean = (log_sigmoid(&(&delta * beta)?)? * -(1.0 - eps))?;
                let flipped = (log_sigmoid(&(&delta * -beta)?)? * -eps)?;
                ((clean - flipped)? / (1.0 - 2.0 * eps))?
            }
            // ℓ = -(1-ε) logσ(β δ) - ε logσ(-β δ)
            LossKind::Cdpo => {
                let a = (log_sigmoid(&(&delta * beta)?)? * -(1.0 - eps))?;
                let c = (log_sigmoid(&(&delta * -beta)?)? * -eps)?;
                (a + c)?
            }
            // ℓ = -logσ(β δ̄)
            LossKind::SigmoidNorm => log_sigmoid(&(&delta_norm * beta)?)?.neg()?,
            // ℓ = -Σ_i πc_i / Σ_i nc_i, broadcast to every pair
            LossKind::Sft => {
                let tokens: usize = lp.chosen_tokens.iter().sum();
                (lp.policy_chosen.sum_all()? / -(tokens as f64))?
                    .reshape(1)?
                    .broadcast_as(b)?
            }
        };
        let mean = per_seq.mean_all()?;
        let weighted_mean = (&mean * term.weight)?;
        let weighted = (&per_seq * term.weight)?;
        total = Some(match total {
            None => weighted_mean,
            Some(t) => (t + weighted_mean)?,
        });
        per_pair = Some(match per_pair {
            None => weighted,
            Some(p) => (p + weighted)?,
        });
        terms.push((term.kind, mean));
    }
    let (Some(loss), Some(per_pair)) = (total, per_pair) else {
        return Err(DpoError::InvalidConfig(
            "at least one loss term is needed".into(),
        ));
    };

    let chosen_rewards = (chosen_lr.detach() * beta)?;
    let rejected_rewards = (rejected_lr.detach() * beta)?;
    let to_vec = |t: &Tensor| -> Result<Vec<f64>> { Ok(t.to_dtype(DType::F64)?.to_vec1()?) };
    let metrics = PreferenceMetrics::from_batch(
        loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
        &to_vec(&chosen_rewards)?,
        &to_vec(&rejected_rewards)?,
        &to_vec(&lp.policy_chosen)?,
        &to_vec(&pol_r)?,
        &lp.chosen_tokens,
    );
    Ok(PreferenceLoss {
        loss,
        per_pair,
        terms,
        chosen_rewards,
        rejected_rewards,
        metrics,
    })
}
