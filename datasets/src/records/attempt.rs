//! `Attempt`: one teacher answer and what the sandbox made of it; the
//! append-only journal `attempts.jsonl` is a sequence of these.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::format::{AttemptKind, Format};
use super::message::Message;
use super::parse::{JsonRecord, parse_record};
use crate::error::FieldError;

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// All tests passed.
    Passed,
    /// A test failed (assertion or wrong output).
    Failed,
    /// The code raised an exception outside the tests.
    Error,
    /// The code did not parse.
    Syntax,
    /// The wall-time or CPU limit was hit.
    Timeout,
    /// The memory limit was hit.
    Memory,
    /// The output limit was hit.
    OutputLimit,
}

/// The sandbox's verdict on one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// How the run ended.
    pub status: Status,
    /// Captured stdout (possibly truncated by the output limit).
    pub stdout: String,
    /// Captured stderr (possibly truncated by the output limit).
    pub stderr: String,
    /// Process exit code, if the interpreter exited.
    pub exit_code: Option<i32>,
    /// Wall time of the run in milliseconds.
    pub duration_ms: u64,
}

/// The teacher that produced an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Teacher {
    /// Model name as the server knows it.
    pub model: String,
    /// Sampling parameters sent with the request (temperature, top_p, seed...).
    #[serde(default)]
    pub params: Map<String, Value>,
}

/// Token usage reported by the teacher's server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Tokens in the request.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Total, when the server reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
}

/// One teacher answer (`attempt.v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// Format tag, always `attempt.v1`.
    pub format: Format<AttemptKind>,
    /// Id of the problem attempted.
    pub problem_id: String,
    /// Independent sample index (0-based).
    pub sample: u32,
    /// Feedback turn within the sample (0 = first answer).
    pub turn: u32,
    /// The conversation sent to the teacher.
    pub messages: Vec<Message>,
    /// The teacher's raw answer.
    pub completion: String,
    /// Code extracted from the answer (`null` when none could be extracted).
    pub code: Option<String>,
    /// What the sandbox made of the code.
    pub outcome: Outcome,
    /// Which teacher answered, with which parameters.
    pub teacher: Teacher,
    /// Token usage, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl Attempt {
    /// Semantic checks beyond the serde shape.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.problem_id.trim().is_empty() {
            return Err(FieldError::new("problem_id", "must not be empty"));
        }
        if self.messages.is_empty() {
            return Err(FieldError::new(
                "messages",
                "the conversation sent to the teacher is empty",
            ));
        }
        Ok(())
    }
}

impl JsonRecord for Attempt {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let a: Self = parse_record(text)?;
        a.validate()?;
        Ok(a)
    }
}
