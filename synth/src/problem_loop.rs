//! One problem, start to finish: for each sample, ask the teacher (through the cache),
//! extract the code, check it, journal the attempt, and on failure send feedback, up
//! to `max_feedback` turns; stop at `accept` passing samples.

use crate::SynthError;
use crate::check::{Checker, Verdict};
use crate::extract::extract_code;
use crate::options::SynthOptions;
use crate::prompt::{feedback_message, initial_messages};
use crate::run::cache::CallCache;
use crate::run::journal::{DoneRecord, DoneStatus};
use crate::teacher::{ChatRequest, Completion, Teacher, TeacherError};
use datasets::jsonl::JsonlWriter;
use datasets::records::{Attempt, Message, Problem, Teacher as TeacherInfo, TestType, Usage};
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the per-problem workers share.
pub(crate) struct Shared {
    pub teacher: std::sync::Arc<dyn Teacher>,
    pub checker: std::sync::Arc<Checker>,
    pub options: SynthOptions,
    pub cache: CallCache,
    pub attempts: Mutex<JsonlWriter<Attempt>>,
    pub done: Mutex<JsonlWriter<DoneRecord>>,
    /// (problem, sample, turn) already in the journal from an earlier run.
    pub journaled: HashSet<(String, u32, u32)>,
    pub calls: AtomicU64,
    pub cache_hits: AtomicU64,
}

/// Why a problem did not finish.
pub(crate) enum ProblemError {
    /// The teacher failed on this problem only (retries exhausted); it stays
    /// unfinished and a later run retries it.
    Teacher(TeacherError),
    /// The run must stop.
    Fatal(SynthError),
}

impl From<SynthError> for ProblemError {
    fn from(e: SynthError) -> Self {
        ProblemError::Fatal(e)
    }
}

impl Shared {
    async fn ask(&self, request: &ChatRequest, sample: u32) -> Result<Completion, ProblemError> {
        let key = CallCache::key(self.teacher.model(), request, sample);
        if let Some(hit) = self.cache.get(&key) {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        match self.teacher.complete(request).await {
            Ok(c) => {
                self.calls.fetch_add(1, Ordering::Relaxed);
                self.cache.put(&key, &c)?;
                Ok(c)
            }
            Err(e) if e.is_fatal() => Err(ProblemError::Fatal(e.into())),
            Err(e) => Err(ProblemError::Teacher(e)),
        }
    }

    fn journal_attempt(&self, attempt: &Attempt) -> Result<(), SynthError> {
        let key = (attempt.problem_id.clone(), attempt.sample, attempt.turn);
        if self.journaled.contains(&key) {
            return Ok(());
        }
        let mut w = self
            .attempts
            .lock()
            .map_err(|_| SynthError::Internal("attempt journal lock poisoned".into()))?;
        w.write(attempt)?;
        Ok(())
    }

    fn journal_done(&self, record: &DoneRecord) -> Result<(), SynthError> {
        let mut w = self
            .done
            .lock()
            .map_err(|_| SynthError::Internal("done journal lock poisoned".into()))?;
        w.write(record)?;
        Ok(())
    }

    /// Works on one problem until it is finished (or found bad).
    pub(crate) async fn solve(&self, problem: &Problem) -> Result<DoneRecord, ProblemError> {
        if let Some(reason) = self
            .checker
            .preflight(problem)
            .await
            .map_err(|e| ProblemError::Fatal(e.into()))?
        {
            tracing::warn!(problem = %problem.id, "bad problem: {reason}");
            let done = DoneRecord {
                problem_id: problem.id.clone(),
                status: DoneStatus::BadProblem,
                samples: 0,
                accepted: 0,
                reason: Some(reason),
            };
            self.journal_done(&done)?;
            return Ok(done);
        }
        let o = &self.options;
        let mut accepted = 0;
        let mut samples = 0;
        for sample in 0..o.samples {
            if accepted >= o.accept {
                break;
            }
            samples += 1;
            if self.run_sample(problem, sample).await? {
                accepted += 1;
            }
        }
        let done = DoneRecord {
            problem_id: problem.id.clone(),
            status: DoneStatus::Finished,
            samples,
            accepted,
            reason: None,
        };
        self.journal_done(&done)?;
        Ok(done)
    }

    /// `code` without its demo code when the run strips it (assert-style problems).
    async fn stripped(&self, problem: &Problem, code: String) -> Result<String, ProblemError> {
        if !self.options.strip_demo_code || problem.test_type != TestType::Assert {
            return Ok(code);
        }
        let kept = self
            .checker
            .strip_demo_code(&code)
            .await
            .map_err(|e| ProblemError::Fatal(e.into()))?;
        Ok(kept.unwrap_or(code))
    }

    /// One sample with its feedback turns; whether it passed.
    async fn run_sample(&self, problem: &Problem, sample: u32) -> Result<bool, ProblemError> {
        let params = self.options.params.for_sample(sample);
        let mut messages = initial_messages(problem);
        for turn in 0..=self.options.max_feedback {
            let request = ChatRequest {
                messages: messages.clone(),
                params: params.clone(),
            };
            let answer = self.ask(&request, sample).await?;
            let (code, verdict) = match extract_code(&answer.content) {
                Ok(code) => {
                    let code = self.stripped(problem, code).await?;
                    let v = self
                        .checker
                        .check(problem, &code)
                        .await
                        .map_err(|e| ProblemError::Fatal(e.into()))?;
                    (Some(code), v)
                }
                Err(e) => (None, Verdict::no_code(&e.to_string())),
            };
            tracing::debug!(problem = %problem.id, sample, turn, class = verdict.class.as_str());
            self.journal_attempt(&Attempt {
                format: Default::default(),
                problem_id: problem.id.clone(),
                sample,
                turn,
                messages: messages.clone(),
                completion: answer.content.clone(),
                code,
                outcome: verdict.to_record(),
                teacher: TeacherInfo {
                    model: self.teacher.model().to_string(),
                    params: params.to_map(),
                },
                usage: answer.usage.map(|u| Usage {
                    prompt_tokens: u.prompt_tokens,
                    completion_tokens: u.completion_tokens,
                    total_tokens: Some(u.prompt_tokens + u.completion_tokens),
                }),
            })?;
            if verdict.passed() {
                return Ok(true);
            }
            messages.push(Message::assistant(answer.content));
            messages.push(feedback_message(&verdict));
        }
        Ok(false)
    }
}
