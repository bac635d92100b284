//! Settings of a synth run. Those that change results are fingerprinted
//! ([`crate::run::config`]); the others (concurrency, force) are not.

use crate::teacher::SamplingParams;
use serde::{Deserialize, Serialize};

/// Which dialogue an accepted answer becomes in `sft.jsonl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SftDialogue {
    /// System, problem, final passing answer (the correction turns are dropped).
    #[default]
    Clean,
    /// The whole conversation, feedback turns included, ending with the passing answer.
    Feedback,
}

/// Which failed answers may be the `rejected` side of a DPO pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpoRejected {
    /// Any failed answer, including ones without code or with syntax errors.
    #[default]
    AnyFailure,
    /// Only answers whose code compiled and ran (failed tests, errors, limits).
    ExecutedOnly,
}

/// Settings of a synth run.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthOptions {
    /// Independent samples per problem. Default: 4.
    pub samples: u32,
    /// Feedback turns after the first answer of a sample. Default: 3.
    pub max_feedback: u32,
    /// Stop sampling a problem once this many samples passed. Default: 1.
    pub accept: u32,
    /// Sampling parameters sent to the teacher. Default: [`SamplingParams::default`].
    pub params: SamplingParams,
    /// SFT dialogue shape. Default: [`SftDialogue::Clean`].
    pub sft_dialogue: SftDialogue,
    /// DPO rejection rule. Default: [`DpoRejected::AnyFailure`].
    pub dpo_rejected: DpoRejected,
    /// Problems worked on at once. Keep it above the teacher's own cap (twice is
    /// plenty) so sandbox work on some problems overlaps teacher calls for others.
    /// Default: 64 (twice [`crate::OpenAiConfig`]'s default cap of 32).
    pub concurrency: usize,
    /// Resume even when the run directory's fingerprint differs (the stored config is
    /// replaced). Default: false.
    pub force: bool,
    /// Check assert-style answers without their own top-level demo code and
    /// self-tests ([`crate::strip`]); the journal's `code` is what was checked, and
    /// the SFT/DPO answers are that code in a fenced block. Default: false.
    pub strip_demo_code: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            samples: 4,
            max_feedback: 3,
            accept: 1,
            params: SamplingParams::default(),
            sft_dialogue: SftDialogue::Clean,
            dpo_rejected: DpoRejected::AnyFailure,
            concurrency: 64,
            force: false,
            strip_demo_code: false,
        }
    }
}
