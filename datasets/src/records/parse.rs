//! Turning one JSON text into a typed record, with the failing field's path.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::FieldError;

/// A record that can be parsed from one JSON text (one JSONL line) and
/// checked beyond what its serde shape enforces.
pub trait JsonRecord: Sized {
    /// Parses and validates one record.
    fn from_json_str(text: &str) -> Result<Self, FieldError>;
}

impl JsonRecord for Value {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        parse_typed(text)
    }
}

/// Parses `text` as `T`, reporting the path of the field that failed.
///
/// Syntax errors (including a truncated line) are reported on the pseudo-field
/// `<json>` with serde_json's column; trailing data after the value is an error.
pub fn parse_typed<T: DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end()
        .map_err(|e| FieldError::new("<json>", e.to_string()))?;
    Ok(value)
}

/// Parses `text` as a record type `T`, which must be written as a JSON object
/// (serde would otherwise accept a struct written as an array).
pub fn parse_record<T: DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => parse_typed(text),
        None => Err(FieldError::new("<json>", "empty input")),
        Some(_) => Err(FieldError::new(
            "<record>",
            "expected a JSON object `{...}`",
        )),
    }
}

/// Converts an already-parsed JSON value to `T`, reporting the failing path.
pub fn parse_value<T: DeserializeOwned>(value: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error(err: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return FieldError::new("<json>", inner.to_string());
    }
    let message = strip_position(&inner.to_string());
    let join = |name: &str| {
        if path == "." {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = backticked_after(&message, "missing field `") {
        return FieldError::new(join(name), "required field is missing");
    }
    if message.starts_with("unknown field `") {
        // serde_path_to_error already ends the path with the unknown name.
        let rest = message
            .split_once(", ")
            .map(|(_, r)| format!(" ({r})"))
            .unwrap_or_default();
        return FieldError::new(path, format!("unknown field{rest}"));
    }
    let field = if path == "." {
        "<record>".to_string()
    } else {
        path
    };
    FieldError::new(field, message)
}

/// serde_json appends " at line L column C"; for data errors the field path
/// is more useful, and the line is reported by the reader.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}
