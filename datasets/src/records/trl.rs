//! Reading (and writing) TRL's own dataset shapes, with or without our
//! `format` tag, so data moves both ways between distill and TRL.
//!
//! SFT shapes: ours (`format: "sft.v1"`), conversational `{"messages"}`,
//! standard prompt-completion `{"prompt": str, "completion": str}`,
//! conversational prompt-completion (lists of messages), language modeling
//! `{"text"}`. Preference shapes: ours (`dpo.v1`), explicit prompt
//! (conversational or standard strings), implicit prompt (`chosen`/`rejected`
//! only). Extra columns in TRL data (an `id`, a `source`) are ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::checks;
use super::dpo::DpoRecord;
use super::format::{DpoKind, RecordKind, SftKind, check_tag};
use super::message::Message;
use super::parse::{JsonRecord, parse_typed, parse_value};
use super::provenance::Provenance;
use super::sft::SftRecord;
use crate::error::FieldError;

/// Any SFT example TRL accepts, or ours.
#[allow(clippy::large_enum_variant)] // the big variant is the common one; boxing it buys nothing
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SftExample {
    /// Our versioned record.
    Distill(SftRecord),
    /// TRL conversational language modeling.
    Conversational {
        /// The dialogue.
        messages: Vec<Message>,
        /// Our provenance, when the row carries a `meta` object (kept on conversion).
        #[serde(skip_serializing_if = "Provenance::is_empty")]
        meta: Provenance,
    },
    /// TRL standard prompt-completion.
    PromptCompletion {
        /// Prompt text.
        prompt: String,
        /// Completion text.
        completion: String,
    },
    /// TRL conversational prompt-completion.
    ConversationalPromptCompletion {
        /// Prompt messages.
        prompt: Vec<Message>,
        /// Completion messages (assistant).
        completion: Vec<Message>,
        /// Our provenance, when the row carries a `meta` object (kept on conversion).
        #[serde(skip_serializing_if = "Provenance::is_empty")]
        meta: Provenance,
    },
    /// TRL standard language modeling.
    Text {
        /// The text.
        text: String,
    },
}

impl SftExample {
    /// The example as our record, when it has chat structure (conversational
    /// shapes); plain-text shapes return `None`.
    pub fn to_sft_record(&self) -> Option<SftRecord> {
        match self {
            Self::Distill(r) => Some(r.clone()),
            Self::Conversational { messages, meta } => Some(SftRecord {
                meta: meta.clone(),
                ..SftRecord::new(messages.clone())
            }),
            Self::ConversationalPromptCompletion {
                prompt,
                completion,
                meta,
            } => {
                let mut all = prompt.clone();
                all.extend(completion.iter().cloned());
                Some(SftRecord {
                    meta: meta.clone(),
                    ..SftRecord::new(all)
                })
            }
            Self::PromptCompletion { .. } | Self::Text { .. } => None,
        }
    }
}

#[derive(Deserialize)]
struct Messages {
    messages: Vec<Message>,
    #[serde(default)]
    meta: Provenance,
}
#[derive(Deserialize)]
struct StrPair {
    prompt: String,
    completion: String,
}
#[derive(Deserialize)]
struct MsgPair {
    #[serde(default)]
    meta: Provenance,
    prompt: Vec<Message>,
    completion: Vec<Message>,
}
#[derive(Deserialize)]
struct Text {
    text: String,
}

impl JsonRecord for SftExample {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let obj = object(text)?;
        let value = Value::Object(obj.clone());
        if let Some(tag) = obj.get("format") {
            tag_matches::<SftKind>(tag)?;
            let r: SftRecord = parse_value(value)?;
            r.validate()?;
            return Ok(Self::Distill(r));
        }
        if obj.contains_key("messages") {
            let m: Messages = parse_value(value)?;
            checks::conversation("messages", &m.messages)?;
            return Ok(Self::Conversational {
                messages: m.messages,
                meta: m.meta,
            });
        }
        if obj.contains_key("prompt") || obj.contains_key("completion") {
            return if obj.get("prompt").is_some_and(Value::is_array) {
                let p: MsgPair = parse_value(value)?;
                checks::completion("completion", &p.completion)?;
                Ok(Self::ConversationalPromptCompletion {
                    prompt: p.prompt,
                    completion: p.completion,
                    meta: p.meta,
                })
            } else {
                let p: StrPair = parse_value(value)?;
                Ok(Self::PromptCompletion {
                    prompt: p.prompt,
                    completion: p.completion,
                })
            };
        }
        if obj.contains_key("text") {
            let t: Text = parse_value(value)?;
            return Ok(Self::Text { text: t.text });
        }
        Err(no_shape(
            "an SFT example: expected `messages`, `prompt` + `completion`, or `text`",
        ))
    }
}

/// Any preference example TRL accepts, or ours.
#[allow(clippy::large_enum_variant)] // the big variant is the common one; boxing it buys nothing
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DpoExample {
    /// Our versioned record.
    Distill(DpoRecord),
    /// TRL conversational preference with explicit prompt.
    Conversational {
        /// Prompt messages.
        prompt: Vec<Message>,
        /// Preferred completion.
        chosen: Vec<Message>,
        /// Dispreferred completion.
        rejected: Vec<Message>,
    },
    /// TRL standard preference with explicit prompt.
    Standard {
        /// Prompt text.
        prompt: String,
        /// Preferred completion text.
        chosen: String,
        /// Dispreferred completion text.
        rejected: String,
    },
    /// TRL conversational preference with implicit prompt (whole dialogues).
    ImplicitConversational {
        /// Whole preferred dialogue.
        chosen: Vec<Message>,
        /// Whole dispreferred dialogue.
        rejected: Vec<Message>,
    },
    /// TRL standard preference with implicit prompt (whole texts).
    ImplicitStandard {
        /// Whole preferred text.
        chosen: String,
        /// Whole dispreferred text.
        rejected: String,
    },
}

impl DpoExample {
    /// The example as our record, when it is conversational. An implicit
    /// prompt is split off as the longest common message prefix, as TRL's
    /// `extract_prompt` does.
    pub fn to_dpo_record(&self) -> Option<DpoRecord> {
        match self {
            Self::Distill(r) => Some(r.clone()),
            Self::Conversational {
                prompt,
                chosen,
                rejected,
            } => Some(DpoRecord::new(
                prompt.clone(),
                chosen.clone(),
                rejected.clone(),
            )),
            Self::ImplicitConversational { chosen, rejected } => {
                let common = chosen
                    .iter()
                    .zip(rejected)
                    .take_while(|(a, b)| a == b)
                    .count();
                Some(DpoRecord::new(
                    chosen[..common].to_vec(),
                    chosen[common..].to_vec(),
                    rejected[common..].to_vec(),
                ))
            }
            Self::Standard { .. } | Self::ImplicitStandard { .. } => None,
        }
    }
}

#[derive(Deserialize)]
struct MsgTriple {
    prompt: Vec<Message>,
    chosen: Vec<Message>,
    rejected: Vec<Message>,
}
#[derive(Deserialize)]
struct StrTriple {
    prompt: String,
    chosen: String,
    rejected: String,
}
#[derive(Deserialize)]
struct MsgImplicit {
    chosen: Vec<Message>,
    rejected: Vec<Message>,
}
#[derive(Deserialize)]
struct StrImplicit {
    chosen: String,
    rejected: String,
}

impl JsonRecord for DpoExample {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let obj = object(text)?;
        let value = Value::Object(obj.clone());
        if let Some(tag) = obj.get("format") {
            tag_matches::<DpoKind>(tag)?;
            let r: DpoRecord = parse_value(value)?;
            r.validate()?;
            return Ok(Self::Distill(r));
        }
        if !obj.contains_key("chosen") && !obj.contains_key("rejected") {
            return Err(no_shape(
                "a preference example: expected `chosen` and `rejected` (and optionally `prompt`)",
            ));
        }
        let conversational = obj.get("chosen").is_some_and(Value::is_array);
        match (obj.contains_key("prompt"), conversational) {
            (true, true) => {
                let t: MsgTriple = parse_value(value)?;
                let r = DpoRecord::new(t.prompt, t.chosen, t.rejected);
                r.validate()?;
                Ok(Self::Conversational {
                    prompt: r.prompt,
                    chosen: r.chosen,
                    rejected: r.rejected,
                })
            }
            (true, false) => {
                let t: StrTriple = parse_value(value)?;
                Ok(Self::Standard {
                    prompt: t.prompt,
                    chosen: t.chosen,
                    rejected: t.rejected,
                })
            }
            (false, true) => {
                let t: MsgImplicit = parse_value(value)?;
                checks::conversation("chosen", &t.chosen)?;
                checks::conversation("rejected", &t.rejected)?;
                Ok(Self::ImplicitConversational {
                    chosen: t.chosen,
                    rejected: t.rejected,
                })
            }
            (false, false) => {
                let t: StrImplicit = parse_value(value)?;
                Ok(Self::ImplicitStandard {
                    chosen: t.chosen,
                    rejected: t.rejected,
                })
            }
        }
    }
}

fn object(text: &str) -> Result<Map<String, Value>, FieldError> {
    match parse_typed::<Value>(text)? {
        Value::Object(m) => Ok(m),
        other => Err(FieldError::new(
            "<record>",
            format!("expected a JSON object, found {}", kind_of(&other)),
        )),
    }
}

fn tag_matches<K: RecordKind>(tag: &Value) -> Result<(), FieldError> {
    match tag.as_str() {
        Some(s) => check_tag::<K>(s).map_err(|r| FieldError::new("format", r)),
        None => Err(FieldError::new(
            "format",
            format!("expected a string such as `{}.v{}`", K::KIND, K::VERSION),
        )),
    }
}

fn no_shape(what: &str) -> FieldError {
    FieldError::new("<record>", format!("not {what}"))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
