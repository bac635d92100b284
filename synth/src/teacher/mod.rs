//! Teachers: anything that answers a chat conversation. The [`Teacher`] trait, the
//! request and answer types, the OpenAI-compatible HTTP backend ([`openai`]) and a
//! scripted in-process teacher for benchmarks ([`scripted`]).

pub mod local;
pub mod openai;
mod retry;
pub mod scripted;

use async_trait::async_trait;
use datasets::records::Message;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::error::TeacherError;
pub use retry::RetryPolicy;

/// Sampling settings sent with every request. All of them change results, so all of
/// them are part of the run fingerprint and of the cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Sampling temperature. Default: 0.8.
    pub temperature: f32,
    /// Nucleus sampling mass. Default: 0.95.
    pub top_p: f32,
    /// Most tokens generated per answer. Default: 2048.
    pub max_tokens: u32,
    /// Base seed; sample `s` is sent with seed `seed + s` so samples differ but repeat.
    /// Default: `Some(0)`. `None` sends no seed.
    pub seed: Option<u64>,
    /// Stop sequences. Default: none.
    pub stop: Vec<String>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.8,
            top_p: 0.95,
            max_tokens: 2048,
            seed: Some(0),
            stop: Vec::new(),
        }
    }
}

impl SamplingParams {
    /// The parameters of one sample: the base seed offset by the sample index.
    pub fn for_sample(&self, sample: u32) -> SamplingParams {
        SamplingParams {
            seed: self.seed.map(|s| s.wrapping_add(u64::from(sample))),
            ..self.clone()
        }
    }

    /// The parameters as a JSON object (for records' provenance).
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

/// One chat-completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The conversation so far; it ends with a user message.
    pub messages: Vec<Message>,
    /// Sampling settings for this request.
    pub params: SamplingParams,
}

/// Token counts of one answer, as the server reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Tokens in the request.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

/// A teacher's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The assistant message text.
    pub content: String,
    /// Token usage, when the server reported it.
    pub usage: Option<TokenUsage>,
    /// Why generation stopped (`stop`, `length`), when reported.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// Counters a teacher keeps over its lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TeacherStats {
    /// Answers received.
    pub calls: u64,
    /// Requests retried after a transient failure.
    pub retries: u64,
    /// Prompt tokens reported.
    pub prompt_tokens: u64,
    /// Completion tokens reported.
    pub completion_tokens: u64,
}

/// Something that answers a conversation: an HTTP server or an in-process model.
#[async_trait]
pub trait Teacher: Send + Sync {
    /// The model name, recorded in provenance and in the cache key.
    fn model(&self) -> &str;

    /// Answers one conversation. Transient failures are retried inside; an error here
    /// is final for this request ([`TeacherError::is_fatal`] says whether for the run).
    async fn complete(&self, request: &ChatRequest) -> Result<Completion, TeacherError>;

    /// Counters so far.
    fn stats(&self) -> TeacherStats;
}
