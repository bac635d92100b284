//! Per-batch preference metrics under the names TRL's `DPOTrainer` logs.

use serde::{Deserialize, Serialize};

/// One batch's metrics. Serialized with TRL's keys (`rewards/chosen`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferenceMetrics {
    /// The combined loss.
    pub loss: f64,
    /// Mean implicit reward of the chosen answers, `mean β (πc - rc)`.
    #[serde(rename = "rewards/chosen")]
    pub rewards_chosen: f64,
    /// Mean implicit reward of the rejected answers, `mean β (πr - rr)`.
    #[serde(rename = "rewards/rejected")]
    pub rewards_rejected: f64,
    /// Fraction of pairs whose chosen reward is strictly above the rejected one.
    #[serde(rename = "rewards/accuracies")]
    pub rewards_accuracies: f64,
    /// Mean of `reward(chosen) - reward(rejected)`.
    #[serde(rename = "rewards/margins")]
    pub rewards_margins: f64,
    /// Mean policy log-probability of the chosen answers (summed over tokens); a fall
    /// during training shows the likelihood collapse DPO is known for.
    #[serde(rename = "logps/chosen")]
    pub logps_chosen: f64,
    /// Mean policy log-probability of the rejected answers.
    #[serde(rename = "logps/rejected")]
    pub logps_rejected: f64,
    /// NLL of the chosen answers per token, `-Σ πc / Σ nc` (the `sft` term's value,
    /// reported whether or not it is part of the loss).
    pub nll_loss: f64,
}

impl PreferenceMetrics {
    /// Computes the metrics from per-pair values of one batch (all slices the same
    /// length; empty slices give NaN means).
    pub fn from_batch(
        loss: f64,
        chosen_rewards: &[f64],
        rejected_rewards: &[f64],
        policy_chosen: &[f64],
        policy_rejected: &[f64],
        chosen_tokens: &[usize],
    ) -> Self {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let margins: Vec<f64> = chosen_rewards
            .iter()
            .zip(rejected_rewards)
            .map(|(c, r)| c - r)
            .collect();
        let wins: Vec<f64> = chosen_rewards
            .iter()
            .zip(rejected_rewards)
            .map(|(c, r)| if c > r { 1.0 } else { 0.0 })
            .collect();
        let tokens: usize = chosen_tokens.iter().sum();
        PreferenceMetrics {
            loss,
            rewards_chosen: mean(chosen_rewards),
            rewards_rejected: mean(rejected_rewards),
            rewards_accuracies: mean(&wins),
            rewards_margins: mean(&margins),
            logps_chosen: mean(policy_chosen),
            logps_rejected: mean(policy_rejected),
            nll_loss: -policy_chosen.iter().sum::<f64>() / tokens as f64,
        }
    }

    /// `(TRL name, value)` pairs, in a fixed order.
    pub fn named(&self) -> [(&'static str, f64); 8] {
        [
            ("loss", self.loss),
            ("rewards/chosen", self.rewards_chosen),
            ("rewards/rejected", self.rewards_rejected),
            ("rewards/accuracies", self.rewards_accuracies),
            ("rewards/margins", self.rewards_margins),
            ("logps/chosen", self.logps_chosen),
            ("logps/rejected", self.logps_rejected),
            ("nll_loss", self.nll_loss),
        ]
    }
}
