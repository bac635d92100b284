//! Loads `dpo/fixtures/trl_losses.json`, written by `make_trl_losses.py` with TRL.

use serde::Deserialize;

/// One preference pair's per-sequence log-probabilities, as fed to TRL.
#[derive(Debug, Deserialize)]
pub struct Pair {
    pub policy_chosen: f64,
    pub policy_rejected: f64,
    pub ref_chosen: f64,
    pub ref_rejected: f64,
    pub chosen_tokens: usize,
    pub rejected_tokens: usize,
}

/// TRL's results for one loss configuration on all pairs.
#[derive(Debug, Deserialize)]
pub struct Case {
    pub name: String,
    pub loss_types: Vec<String>,
    pub loss_weights: Vec<f64>,
    pub beta: f64,
    pub label_smoothing: f64,
    pub loss: f64,
    pub grad_policy_chosen: Vec<f64>,
    pub grad_policy_rejected: Vec<f64>,
    pub per_pair_losses: Vec<Option<f64>>,
    pub chosen_rewards: Vec<f64>,
    pub rejected_rewards: Vec<f64>,
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// Summed masked log-probs of a small random logits tensor, by torch.
#[derive(Debug, Deserialize)]
pub struct SeqLogps {
    pub shape: Vec<usize>,
    pub logits: Vec<f64>,
    pub input_ids: Vec<u32>,
    pub completion_mask: Vec<u32>,
    pub logps: Vec<f64>,
    pub tokens: Vec<usize>,
}

/// The whole fixture.
#[derive(Debug, Deserialize)]
pub struct Fixture {
    pub version: u32,
    pub trl_version: String,
    pub pairs: Vec<Pair>,
    pub cases: Vec<Case>,
    pub sequence_logps: SeqLogps,
}

pub fn load() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/trl_losses.json");
    let text = std::fs::read_to_string(path).expect("read fixture");
    let f: Fixture = serde_json::from_str(&text).expect("parse fixture");
    assert_eq!(f.version, 1);
    f
}
