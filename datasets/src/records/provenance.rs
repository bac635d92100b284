//! Provenance carried in the `meta` field of SFT and DPO records: who made the
//! data, with what prompt template, after which attempts, under which runtime.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attempt::{Status, Teacher};

/// One attempt in the history that led to a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptSummary {
    /// Sample index of the attempt.
    pub sample: u32,
    /// Feedback turn of the attempt (0 = first answer).
    pub turn: u32,
    /// How its execution ended.
    pub status: Status,
}

/// The sandbox runtime a record's code was checked in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeInfo {
    /// sha256 of the Python runtime artifact.
    pub hash: String,
    /// Limits in force (wall time, memory, output), as the sandbox reports them.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub limits: Map<String, Value>,
}

/// Provenance of an SFT or DPO record. Every field is optional so that
/// imported TRL data (which has none) still fits; extra keys are kept in
/// [`Provenance::extra`] and written back unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Id of the problem the record was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_id: Option<String>,
    /// Teacher model and sampling parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<Teacher>,
    /// Version of the prompt template used to ask the teacher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<String>,
    /// The attempts made on this problem, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptSummary>>,
    /// Runtime hash and limits of the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeInfo>,
    /// Version of the distill tool that wrote the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    /// Any other keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Provenance {
    /// Whether nothing is recorded (imported data with no provenance).
    pub fn is_empty(&self) -> bool {
        *self == Provenance::default()
    }
}
