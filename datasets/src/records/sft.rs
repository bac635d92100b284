//! `SftRecord`: one accepted dialogue in TRL's conversational shape.

use serde::{Deserialize, Serialize};

use super::checks;
use super::format::{Format, SftKind};
use super::message::Message;
use super::parse::{JsonRecord, parse_record};
use super::provenance::Provenance;
use crate::error::FieldError;

/// An SFT example (`sft.v1`): `{"format", "messages", "meta"}`. TRL's
/// `SFTTrainer` reads the `messages` column directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftRecord {
    /// Format tag, always `sft.v1`.
    pub format: Format<SftKind>,
    /// The dialogue; it ends with the assistant message to train on.
    pub messages: Vec<Message>,
    /// Provenance (empty for imported data).
    #[serde(default)]
    pub meta: Provenance,
}

impl SftRecord {
    /// A record with the given messages and empty provenance.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            format: Format::new(),
            messages,
            meta: Provenance::default(),
        }
    }

    /// Semantic checks beyond the serde shape.
    pub fn validate(&self) -> Result<(), FieldError> {
        checks::conversation("messages", &self.messages)
    }
}

impl JsonRecord for SftRecord {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let r: Self = parse_record(text)?;
        r.validate()?;
        Ok(r)
    }
}
