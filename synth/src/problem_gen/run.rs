//! The generation run: per seed and sample, ask the teacher, parse the answer, filter
//! the candidate in the sandbox; then dedup the survivors on their prompt text and
//! write `problem.v1` records and `<out>.report.json`.

use super::filter::{Rejection, filter};
use super::parse::{Candidate, parse_answer};
use super::prompt::{PROMPT_VERSION, messages};
use super::seeds::Seed;
use crate::check::Checker;
use crate::error::SynthError;
use crate::teacher::{ChatRequest, SamplingParams, Teacher};
use datasets::BadRecord;
use datasets::dedup::{DedupConfig, Deduper};
use datasets::records::Problem;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The `source` of every generated problem.
pub const SOURCE: &str = "synth-problems";

/// Settings of a generation run.
#[derive(Debug, Clone)]
pub struct ProblemGenOptions {
    /// Answers asked per seed (sample `n` is sent with seed `params.seed + n`).
    /// Default: 1.
    pub per_seed: u32,
    /// Sampling settings. Default: temperature 0.7, 1024 tokens, top-p 0.95, seed 0.
    pub params: SamplingParams,
    /// Seeds worked on at once. Default: 8.
    pub concurrency: usize,
    /// Near-dedup of the prompt texts. Default: datasets' defaults with names kept
    /// as written (prose is not code: renaming every word would make all texts alike).
    pub dedup: DedupConfig,
}

impl Default for ProblemGenOptions {
    fn default() -> Self {
        ProblemGenOptions {
            per_seed: 1,
            params: SamplingParams {
                temperature: 0.7,
                max_tokens: 1024,
                ..SamplingParams::default()
            },
            concurrency: 8,
            dedup: DedupConfig {
                rename_identifiers: false,
                ..DedupConfig::default()
            },
        }
    }
}

/// One answer that did not become a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedAnswer {
    /// The candidate id it would have had (`gen/<seed>-<n>`).
    pub id: String,
    /// Why.
    pub reason: Rejection,
    /// Details: the parse error, the failing assertion, the duplicate's id.
    pub detail: String,
}

/// What a generation run did; written as `<out>.report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemGenReport {
    /// The prompt version used.
    pub prompt_version: String,
    /// The teacher's model name.
    pub teacher_model: String,
    /// Seeds read.
    pub seeds: u64,
    /// Bad seed lines skipped (lenient reading).
    pub bad_seed_lines: Vec<BadRecord>,
    /// Teacher requests made.
    pub requests: u64,
    /// Answers received.
    pub answers: u64,
    /// Requests that failed after the teacher's retries (no answer).
    pub teacher_failures: u64,
    /// Answers parsed into a candidate.
    pub parsed: u64,
    /// Problems written.
    pub kept: u64,
    /// Rejections per reason (every reason listed, zeros included).
    pub rejected: BTreeMap<String, u64>,
    /// Every rejected answer, in seed and sample order.
    pub rejections: Vec<RejectedAnswer>,
}

impl ProblemGenReport {
    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let reasons: Vec<String> = Rejection::ALL
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.as_str(),
                    self.rejected.get(r.as_str()).unwrap_or(&0)
                )
            })
            .collect();
        format!(
            "seeds {} (bad lines {}), answers {}/{} (teacher failures {}), parsed {}, kept {}\nrejected: {}",
            self.seeds,
            self.bad_seed_lines.len(),
            self.answers,
            self.requests,
            self.teacher_failures,
            self.parsed,
            self.kept,
            reasons.join(", ")
        )
    }
}

/// What became of one request.
enum Fate {
    NoAnswer(String),
    Rejected(Rejection, String),
    Candidate(Box<Candidate>),
}

/// The id of sample `n` (1-based) of `seed`.
pub fn problem_id(seed: &Seed, n: u32) -> String {
    format!("gen/{}-{n}", seed.id)
}

/// Generates problems from `seeds`: returns the kept problems (seed and sample
/// order) and the report. A fatal teacher error (bad key, unreachable) stops the run.
pub async fn generate_problems(
    seeds: &[Seed],
    teacher: Arc<dyn Teacher>,
    checker: Arc<Checker>,
    options: &ProblemGenOptions,
) -> Result<(Vec<Problem>, ProblemGenReport), SynthError> {
    if options.per_seed == 0 {
        return Err(SynthError::Settings("--per-seed must be at least 1".into()));
    }
    let mut deduper =
        Deduper::new(options.dedup).map_err(|e| SynthError::Settings(e.to_string()))?;
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut index = 0usize;
    for seed in seeds {
        for n in 1..=options.per_seed {
            let (teacher, checker, permits) = (
                Arc::clone(&teacher),
                Arc::clone(&checker),
                Arc::clone(&permits),
            );
            let request = ChatRequest {
                messages: messages(&seed.code),
                params: options.params.for_sample(n - 1),
            };
            let i = index;
            index += 1;
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (i, one(&*teacher, &checker, &request).await)
            });
        }
    }
    let mut fates: Vec<Option<Fate>> = (0..index).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, fate) = joined.map_err(|e| SynthError::Internal(e.to_string()))?;
        match fate {
            Ok(fate) => fates[i] = Some(fate),
            Err(e) => {
                tasks.abort_all();
                return Err(e);
            }
        }
    }
    let mut report = ProblemGenReport {
        prompt_version: PROMPT_VERSION.into(),
        teacher_model: teacher.model().to_string(),
        seeds: seeds.len() as u64,
        bad_seed_lines: Vec::new(),
        requests: index as u64,
        answers: 0,
        teacher_failures: 0,
        parsed: 0,
        kept: 0,
        rejected: Rejection::ALL
            .iter()
            .map(|r| (r.as_str().to_string(), 0))
            .collect(),
        rejections: Vec::new(),
    };
    let mut kept = Vec::new();
    let mut fates = fates.into_iter();
    for seed in seeds {
        for n in 1..=options.per_seed {
            let id = problem_id(seed, n);
            let fate = fates.next().flatten();
            let reject = |report: &mut ProblemGenReport, reason: Rejection, detail| {
                *report.rejected.entry(reason.as_str().into()).or_insert(0) += 1;
                report.rejections.push(RejectedAnswer {
                    id: id.clone(),
                    reason,
                    detail,
                });
            };
            match fate {
                None => {
                    return Err(SynthError::Internal(format!("no result for {id}")));
                }
                Some(Fate::NoAnswer(reason)) => {
                    tracing::warn!("{id}: the teacher gave no answer: {reason}");
                    report.teacher_failures += 1;
                }
                Some(Fate::Rejected(reason, detail)) => {
                    report.answers += 1;
                    if reason != Rejection::Parse {
                        report.parsed += 1;
                    }
                    reject(&mut report, reason, detail);
                }
                Some(Fate::Candidate(c)) => {
                    report.answers += 1;
                    report.parsed += 1;
                    let problem = to_problem(&id, seed, &c, teacher.model());
                    let decision = deduper.push(&id, &dedup_text(&problem.prompt));
                    match decision.matched() {
                        Some(of) => reject(
                            &mut report,
                            Rejection::Duplicate,
                            format!("a near duplicate of {of}"),
                        ),
                        None => kept.push(problem),
                    }
                }
            }
        }
    }
    report.kept = kept.len() as u64;
    Ok((kept, report))
}

/// The text compared for near-duplicates: the prompt, lower-cased.
fn dedup_text(prompt: &str) -> String {
    prompt.to_lowercase()
}

/// Ask, parse, filter: the fate of one request. `Err` only for a fatal teacher
/// error or a sandbox failure.
async fn one(
    teacher: &dyn Teacher,
    checker: &Checker,
    request: &ChatRequest,
) -> Result<Fate, SynthError> {
    let answer = match teacher.complete(request).await {
        Ok(c) => c.content,
        Err(e) if e.is_fatal() => return Err(e.into()),
        Err(e) => return Ok(Fate::NoAnswer(e.to_string())),
    };
    let candidate = match parse_answer(&answer) {
        Ok(c) => c,
        Err(e) => return Ok(Fate::Rejected(Rejection::Parse, e.to_string())),
    };
    Ok(match filter(checker, &candidate).await? {
        Some((reason, detail)) => Fate::Rejected(reason, detail),
        None => Fate::Candidate(Box::new(candidate)),
    })
}

/// The `problem.v1` record of a kept candidate.
fn to_problem(id: &str, seed: &Seed, c: &Candidate, model: &str) -> Problem {
    let mut problem = Problem::assert_style(id, c.prompt(), c.tests.clone());
    problem.entry_point = Some(c.entry_point.clone());
    problem.source = Some(SOURCE.into());
    let meta = json!({
        "seed_id": seed.id,
        "teacher_model": model,
        "prompt_version": PROMPT_VERSION,
        "reference": c.reference,
    });
    problem.meta = match meta {
        Value::Object(map) => Some(map),
        _ => Some(Map::new()),
    };
    problem
}

/// `<out>.report.json`: the report's path next to the output.
pub fn report_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".report.json");
    PathBuf::from(name)
}

/// Writes the problems to `out` (replacing it, atomically) and the report next to it.
pub fn write_outputs(
    out: &Path,
    problems: &[Problem],
    report: &ProblemGenReport,
) -> Result<(), SynthError> {
    let mut text = String::new();
    for p in problems {
        let line = serde_json::to_string(p)
            .map_err(|e| SynthError::Internal(format!("serializing {}: {e}", p.id)))?;
        text.push_str(&line);
        text.push('\n');
    }
    write_atomic(out, text.as_bytes())?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| SynthError::Internal(format!("serializing the report: {e}")))?;
    write_atomic(&report_path(out), format!("{json}\n").as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SynthError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| SynthError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| SynthError::io(path, e))
}
