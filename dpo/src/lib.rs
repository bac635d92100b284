//! Preference optimization for the student model.
//!
//! - [`loss`]: the DPO loss family on per-sequence log-probabilities (policy and
//!   reference, chosen and rejected, with token counts): `sigmoid` (DPO), `ipo`,
//!   `hinge`, `robust` (rDPO), `cdpo` (conservative DPO), `sigmoid_norm` and the `sft`
//!   NLL term on chosen responses, each selectable and combinable with weights, as
//!   candle tensors so gradients flow to the policy's log-probabilities.
//! - [`metrics`]: the per-step metrics under TRL's names (`rewards/chosen`, ...).
//! - [`logps`]: summed masked log-probabilities of completions from a model's logits.
//! - [`pairs`]: preference files (TRL's shapes, ours) → tokenized pairs with completion
//!   masks (optionally without formatting tokens), truncation, bad pairs by line.
//! - [`reference`]: the frozen starting model's log-probs in one pass, cached on disk
//!   under a hash of every input.
//! - [`trainer`], [`run`]: the DPO trainer on `sft`'s loop machinery, and a whole run
//!   from one settings struct.
//!
//! Parity with TRL is pinned by `dpo/fixtures/trl_losses.json`, written by
//! `dpo/fixtures/make_trl_losses.py` with TRL's own trainer code (never run in CI).

pub mod error;
pub mod logps;
pub mod loss;
pub mod metrics;
pub mod pairs;
pub mod reference;
pub mod run;
pub mod trainer;

pub use error::{DpoError, Result};
pub use logps::{
    SequenceLogps, sequence_logps, sequence_logps_composed, sequence_logps_recomputed,
};
pub use loss::{
    LossKind, LossTerm, PairLogps, PreferenceLoss, PreferenceLossConfig, preference_loss,
};
pub use metrics::PreferenceMetrics;
pub use pairs::{PairOptions, PreparedPairs, TokenizedPair, Truncation, prepare_pairs};
pub use reference::{CacheStatus, RefLogps};
pub use run::{DpoConfig, DpoSummary, Progress, train_dpo};
pub use trainer::{DpoStepMetrics, DpoTrainer, EvalMetrics};
