//! Shape checks on message lists shared by SFT and DPO records and their TRL
//! forms: where system messages may appear, and who speaks last.

use super::message::{Message, Role};
use crate::error::FieldError;

/// A trainable conversation: non-empty, a system message only first, and an
/// assistant message last (otherwise there is nothing to learn from).
pub(crate) fn conversation(field: &str, messages: &[Message]) -> Result<(), FieldError> {
    system_only_first(field, messages)?;
    match messages.last() {
        None => Err(FieldError::new(field, "must contain at least one message")),
        Some(m) if m.role != Role::Assistant => Err(FieldError::new(
            format!("{field}[{}].role", messages.len() - 1),
            "the last message must be from the assistant (nothing to train on otherwise)",
        )),
        Some(_) => Ok(()),
    }
}

/// A prompt: non-empty, a system message only first, ending with a user turn.
pub(crate) fn prompt(field: &str, messages: &[Message]) -> Result<(), FieldError> {
    system_only_first(field, messages)?;
    match messages.last() {
        None => Err(FieldError::new(field, "must contain at least one message")),
        Some(m) if m.role != Role::User => Err(FieldError::new(
            format!("{field}[{}].role", messages.len() - 1),
            "a prompt must end with a user message",
        )),
        Some(_) => Ok(()),
    }
}

/// A completion: non-empty and assistant messages only.
pub(crate) fn completion(field: &str, messages: &[Message]) -> Result<(), FieldError> {
    if messages.is_empty() {
        return Err(FieldError::new(field, "must contain at least one message"));
    }
    match messages.iter().position(|m| m.role != Role::Assistant) {
        Some(i) => Err(FieldError::new(
            format!("{field}[{i}].role"),
            "a completion may only contain assistant messages",
        )),
        None => Ok(()),
    }
}

fn system_only_first(field: &str, messages: &[Message]) -> Result<(), FieldError> {
    match messages.iter().skip(1).position(|m| m.role == Role::System) {
        Some(i) => Err(FieldError::new(
            format!("{field}[{}].role", i + 1),
            "a system message may only be the first message",
        )),
        None => Ok(()),
    }
}
