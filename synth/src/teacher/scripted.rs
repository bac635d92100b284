//! An in-process teacher whose answers come from a function of the request, after a
//! fixed latency: for benchmarks and tests that need no server.

use super::{ChatRequest, Completion, Teacher, TeacherError, TeacherStats, TokenUsage};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The function that writes a scripted answer.
pub type Responder = Arc<dyn Fn(&ChatRequest) -> String + Send + Sync>;

/// A teacher that sleeps `latency`, then answers with `responder(request)`, at most
/// `max_concurrency` requests at a time (like a server's slots). Every answer reports
/// 1 token per 4 bytes in and out, so usage accounting is exercised.
pub struct ScriptedTeacher {
    model: String,
    permits: Option<Semaphore>,
    latency: Duration,
    responder: Responder,
    calls: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl ScriptedTeacher {
    /// A scripted teacher named `model`.
    pub fn new(model: impl Into<String>, latency: Duration, responder: Responder) -> Self {
        ScriptedTeacher {
            model: model.into(),
            permits: None,
            latency,
            responder,
            calls: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
        }
    }

    /// Serves at most `n` requests at once (default: unlimited).
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.permits = Some(Semaphore::new(n.max(1)));
        self
    }
}

#[async_trait]
impl Teacher for ScriptedTeacher {
    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, TeacherError> {
        let _permit = match &self.permits {
            Some(p) => Some(
                p.acquire()
                    .await
                    .map_err(|_| TeacherError::Setup("scripted teacher closed".into()))?,
            ),
            None => None,
        };
        tokio::time::sleep(self.latency).await;
        let content = (self.responder)(request);
        let usage = TokenUsage {
            prompt_tokens: request
                .messages
                .iter()
                .map(|m| m.content.len() as u64 / 4)
                .sum(),
            completion_tokens: content.len() as u64 / 4,
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens
            .fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(usage.completion_tokens, Ordering::Relaxed);
        Ok(Completion {
            content,
            usage: Some(usage),
            finish_reason: Some("stop".into()),
        })
    }

    fn stats(&self) -> TeacherStats {
        TeacherStats {
            calls: self.calls.load(Ordering::Relaxed),
            retries: 0,
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
        }
    }
}
