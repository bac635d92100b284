//! One line of `results.jsonl`: a finished problem with every sample's answer,
//! extracted code, sandbox status and timings, and its pass@k values.

use crate::check::VerdictClass;
use datasets::FieldError;
use datasets::records::JsonRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format tag of a results line.
pub const RESULT_FORMAT: &str = "eval-result.v1";

/// One sample of one problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleResult {
    /// Sample index (its seed is the base seed plus this).
    pub sample: u32,
    /// How the sample fared in the sandbox (`no_code` when the answer had no code
    /// block).
    pub status: VerdictClass,
    /// The code extracted from the answer (before the prompt is prepended), or
    /// `null` without a code block.
    pub code: Option<String>,
    /// The raw answer.
    pub completion: String,
    /// The failing assertion, exception or reason; empty when passed.
    #[serde(default)]
    pub detail: String,
    /// Sandbox wall time in milliseconds (compile gate and tests).
    pub duration_ms: u64,
    /// Teacher wall time for this answer in milliseconds (fractional).
    pub generation_ms: f64,
    /// Tokens generated, when the teacher reported them.
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// Why generation stopped (`stop`, `length`), when reported.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// One finished problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemResult {
    /// Always [`RESULT_FORMAT`].
    pub format: String,
    /// The benchmark's problem id (`HumanEval/0`).
    pub problem_id: String,
    /// Samples taken.
    pub n: u32,
    /// Samples that passed.
    pub c: u32,
    /// pass@k for each requested k (Chen et al.'s unbiased estimator).
    pub pass_at_k: BTreeMap<u32, f64>,
    /// The samples, by index.
    pub samples: Vec<SampleResult>,
}

impl ProblemResult {
    /// pass@1 of this problem: `c / n`.
    pub fn pass_at_1(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            f64::from(self.c) / f64::from(self.n)
        }
    }
}

impl JsonRecord for ProblemResult {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let r: ProblemResult = datasets::records::parse_record(text)?;
        if r.format != RESULT_FORMAT {
            return Err(FieldError::new(
                "format",
                format!("`{}` is not `{RESULT_FORMAT}`", r.format),
            ));
        }
        if r.c > r.n || r.samples.len() != r.n as usize {
            return Err(FieldError::new(
                "c",
                format!(
                    "c = {} and {} samples do not fit n = {}",
                    r.c,
                    r.samples.len(),
                    r.n
                ),
            ));
        }
        Ok(r)
    }
}
