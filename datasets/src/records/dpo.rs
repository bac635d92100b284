//! `DpoRecord`: one preference pair in TRL's conversational preference shape.

use serde::{Deserialize, Serialize};

use super::checks;
use super::format::{DpoKind, Format};
use super::message::Message;
use super::parse::{JsonRecord, parse_record};
use super::provenance::Provenance;
use crate::error::FieldError;

/// A preference pair (`dpo.v1`): `{"format", "prompt", "chosen", "rejected",
/// "meta"}` with explicit prompt, as TRL's `DPOTrainer` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpoRecord {
    /// Format tag, always `dpo.v1`.
    pub format: Format<DpoKind>,
    /// The shared context; it ends with a user message.
    pub prompt: Vec<Message>,
    /// The preferred answer (assistant messages only).
    pub chosen: Vec<Message>,
    /// The dispreferred answer (assistant messages only).
    pub rejected: Vec<Message>,
    /// Provenance (empty for imported data).
    #[serde(default)]
    pub meta: Provenance,
}

impl DpoRecord {
    /// A pair with empty provenance.
    pub fn new(prompt: Vec<Message>, chosen: Vec<Message>, rejected: Vec<Message>) -> Self {
        Self {
            format: Format::new(),
            prompt,
            chosen,
            rejected,
            meta: Provenance::default(),
        }
    }

    /// Semantic checks beyond the serde shape: a user-final prompt, assistant
    /// completions, and chosen different from rejected.
    pub fn validate(&self) -> Result<(), FieldError> {
        checks::prompt("prompt", &self.prompt)?;
        checks::completion("chosen", &self.chosen)?;
        checks::completion("rejected", &self.rejected)?;
        if self.chosen == self.rejected {
            return Err(FieldError::new(
                "rejected",
                "identical to `chosen`: the pair carries no preference",
            ));
        }
        Ok(())
    }
}

impl JsonRecord for DpoRecord {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let r: Self = parse_record(text)?;
        r.validate()?;
        Ok(r)
    }
}
