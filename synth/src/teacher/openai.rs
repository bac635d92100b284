//! The OpenAI-compatible chat-completions backend (`POST {base_url}/chat/completions`),
//! as served by vLLM, SGLang, llama.cpp's server and hosted APIs: bearer key from a
//! named environment variable, per-request timeout, retries with backoff on transient
//! failures, and a cap on requests in flight.

use super::retry::parse_retry_after;
use super::{
    ChatRequest, Completion, RetryPolicy, Teacher, TeacherError, TeacherStats, TokenUsage,
};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Settings of an [`OpenAiTeacher`].
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// Base URL up to and including the API version, e.g. `http://127.0.0.1:8000/v1`;
    /// `/chat/completions` is appended. No default.
    pub base_url: String,
    /// Model name as the server knows it. No default.
    pub model: String,
    /// Name of the environment variable holding the API key; when it is unset or empty
    /// no `Authorization` header is sent (local servers need none). Default:
    /// `OPENAI_API_KEY`.
    pub api_key_env: String,
    /// Deadline for one HTTP request, body included. Default: 300 s.
    pub request_timeout: Duration,
    /// Retries of transient failures. Default: [`RetryPolicy::default`].
    pub retry: RetryPolicy,
    /// Most requests in flight at once. Default: 32.
    pub max_concurrency: usize,
    /// Further fields laid over every request body, like the OpenAI SDK's
    /// `extra_body`: a server's own sampling settings (llama-cpp-python's server
    /// applies `repeat_penalty` 1.1 unless told otherwise, even when greedy). They are
    /// part of the teacher's recorded model name ([`Teacher::model`]), so runs, evals
    /// and call caches made with other settings stay apart. Default: none.
    pub extra_body: serde_json::Map<String, Value>,
}

impl OpenAiConfig {
    /// Settings with the documented defaults for this server and model.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: "OPENAI_API_KEY".into(),
            request_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            max_concurrency: 32,
            extra_body: serde_json::Map::new(),
        }
    }
}

/// An OpenAI-compatible HTTP teacher.
pub struct OpenAiTeacher {
    config: OpenAiConfig,
    /// The model name, followed by the extra body's JSON when there is one.
    identity: String,
    url: String,
    key: Option<String>,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    calls: AtomicU64,
    retries: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

/// One failed try, classified.
enum TryError {
    /// Retry (429, 5xx, timeout, malformed body), after the server's delay if given.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The connection could not be made; retried, then reported as unreachable.
    Connect(String),
    /// Stop now.
    Final(TeacherError),
}

#[derive(Deserialize)]
struct WireResponse {
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl OpenAiTeacher {
    /// Builds the client; reads the API key from `config.api_key_env` now.
    pub fn new(config: OpenAiConfig) -> Result<Self, TeacherError> {
        if config.model.trim().is_empty() {
            return Err(TeacherError::Setup("the model name is empty".into()));
        }
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(TeacherError::Setup(format!(
                "the teacher URL `{}` must start with http:// or https://",
                config.base_url
            )));
        }
        if let Some(k) = ["model", "messages"]
            .into_iter()
            .find(|k| config.extra_body.contains_key(*k))
        {
            return Err(TeacherError::Setup(format!(
                "the extra request body may not set `{k}`"
            )));
        }
        let identity = if config.extra_body.is_empty() {
            config.model.clone()
        } else {
            format!(
                "{} {}",
                config.model,
                Value::Object(config.extra_body.clone())
            )
        };
        let url = format!("{base}/chat/completions");
        let key = std::env::var(&config.api_key_env)
            .ok()
            .filter(|k| !k.trim().is_empty());
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| TeacherError::Setup(e.to_string()))?;
        Ok(OpenAiTeacher {
            permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            identity,
            url,
            key,
            client,
            config,
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
        })
    }

    /// The JSON body sent for a request.
    pub fn body(&self, request: &ChatRequest) -> Value {
        let p = &request.params;
        let mut body = json!({
            "model": self.config.model,
            "messages": request.messages,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
        });
        if let Some(seed) = p.seed {
            body["seed"] = json!(seed);
        }
        if !p.stop.is_empty() {
            body["stop"] = json!(p.stop);
        }
        for (k, v) in &self.config.extra_body {
            body[k.as_str()] = v.clone();
        }
        body
    }

    async fn try_once(&self, body: &Value) -> Result<Completion, TryError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| TryError::Final(TeacherError::Setup("teacher closed".into())))?;
        let mut builder = self.client.post(&self.url).json(body);
        if let Some(key) = &self.key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.map_err(classify_send)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = response.text().await.map_err(classify_send)?;
        match status {
            200..=299 => parse_completion(&text).map_err(|reason| TryError::Transient {
                reason,
                retry_after: None,
            }),
            401 | 403 => Err(TryError::Final(TeacherError::Auth {
                status,
                key_env: self.config.api_key_env.clone(),
                body: snippet(&text),
            })),
            408 | 429 | 500..=599 => Err(TryError::Transient {
                reason: format!("HTTP {status}: {}", snippet(&text)),
                retry_after,
            }),
            _ => Err(TryError::Final(TeacherError::Rejected {
                status,
                body: snippet(&text),
            })),
        }
    }
}

fn classify_send(err: reqwest::Error) -> TryError {
    if err.is_connect() {
        TryError::Connect(format!("{err}"))
    } else if err.is_timeout() {
        TryError::Transient {
            reason: "request timed out".into(),
            retry_after: None,
        }
    } else {
        TryError::Transient {
            reason: format!("{err}"),
            retry_after: None,
        }
    }
}

/// Reads the first choice of a chat-completions body.
fn parse_completion(text: &str) -> Result<Completion, String> {
    let wire: WireResponse = serde_json::from_str(text)
        .map_err(|e| format!("malformed response body ({e}): {}", snippet(text)))?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "response has no choices".to_string())?;
    let content = choice
        .message
        .content
        .ok_or_else(|| "response message has no content".to_string())?;
    Ok(Completion {
        content,
        usage: wire.usage.map(|u| TokenUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }),
        finish_reason: choice.finish_reason,
    })
}

/// The first 300 characters of a body, for error messages.
fn snippet(text: &str) -> String {
    let cut: String = text.chars().take(300).collect();
    if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

#[async_trait]
impl Teacher for OpenAiTeacher {
    fn model(&self) -> &str {
        &self.identity
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, TeacherError> {
        let body = self.body(request);
        let policy = self.config.retry;
        let mut retry = 0u32;
        loop {
            let (reason, retry_after, connect) = match self.try_once(&body).await {
                Ok(done) => {
                    self.calls.fetch_add(1, Ordering::Relaxed);
                    if let Some(u) = done.usage {
                        self.prompt_tokens
                            .fetch_add(u.prompt_tokens, Ordering::Relaxed);
                        self.completion_tokens
                            .fetch_add(u.completion_tokens, Ordering::Relaxed);
                    }
                    return Ok(done);
                }
                Err(TryError::Final(err)) => return Err(err),
                Err(TryError::Transient {
                    reason,
                    retry_after,
                }) => (reason, retry_after, false),
                Err(TryError::Connect(reason)) => (reason, None, true),
            };
            if retry >= policy.max_retries {
                return Err(if connect {
                    TeacherError::Unreachable {
                        url: self.url.clone(),
                        reason,
                    }
                } else {
                    TeacherError::Exhausted {
                        attempts: retry + 1,
                        last: reason,
                    }
                });
            }
            let delay = policy.delay(retry, retry_after);
            tracing::warn!(url = %self.url, retry, ?delay, "teacher: {reason}; retrying");
            self.retries.fetch_add(1, Ordering::Relaxed);
            retry += 1;
            tokio::time::sleep(delay).await;
        }
    }

    fn stats(&self) -> TeacherStats {
        TeacherStats {
            calls: self.calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_and_usage() {
        let c = parse_completion(
            r#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        );
        assert_eq!(
            c,
            Ok(Completion {
                content: "hi".into(),
                usage: Some(TokenUsage {
                    prompt_tokens: 3,
                    completion_tokens: 1
                }),
                finish_reason: Some("stop".into()),
            })
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(parse_completion("{not json").is_err());
        assert!(parse_completion(r#"{"choices":[]}"#).is_err());
        assert!(parse_completion(r#"{"choices":[{"message":{}}]}"#).is_err());
    }

    #[test]
    fn rejects_urls_without_scheme() {
        let err = OpenAiTeacher::new(OpenAiConfig::new("127.0.0.1:1/v1", "m"));
        assert!(matches!(err, Err(TeacherError::Setup(_))));
    }
}
