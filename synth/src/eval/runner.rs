//! Running (or resuming) an eval in a directory: establish or check `config.json`,
//! skip the problems already in `results.jsonl`, sample the rest from the teacher
//! (each (problem, sample) is one task; at most `concurrency` at once), check each
//! answer in the sandbox (sanitized unless disabled), append one flushed line per finished problem, then write
//! the summary.

use super::prompt::{assemble, eval_messages};
use super::summary::{EvalSummary, Invocation, summarize};
use super::{EvalConfig, EvalError, EvalOptions, EvalPaths, ProblemResult, SampleResult};
use super::{RESULT_FORMAT, pass_at_k};
use crate::check::{Checker, VerdictClass};
use crate::extract::extract_code;
use crate::run::journal::{read_journal, repair_torn_tail};
use crate::teacher::{ChatRequest, Teacher, TeacherError};
use datasets::jsonl::JsonlWriter;
use datasets::records::Problem;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Called with each problem as it finishes (for progress bars).
pub type OnResult<'a> = &'a (dyn Fn(&ProblemResult) + Sync);

/// Why one sample did not finish.
enum SampleError {
    /// The teacher failed on this request only; the problem stays unfinished.
    Teacher(TeacherError),
    /// The run must stop.
    Fatal(EvalError),
}

/// Runs (or resumes) an eval of `teacher` on `problems` (the first
/// `options.limit` of them) in `dir` and returns the summary, which is also written
/// to `summary.json` and `summary.txt`.
///
/// Problems already in `results.jsonl` are skipped, so re-running the same command
/// after an interruption costs no teacher call for them. A fatal teacher error
/// (bad key, unreachable server, unknown model) stops the run after writing the
/// summary of what is done; a teacher that keeps failing on one request leaves that
/// problem unfinished and the run goes on.
pub async fn run_eval(
    dir: &Path,
    problems: &[Problem],
    teacher: Arc<dyn Teacher>,
    checker: Arc<Checker>,
    options: &EvalOptions,
    on_result: Option<OnResult<'_>>,
) -> Result<EvalSummary, EvalError> {
    let start = Instant::now();
    options.validate()?;
    let problems = &problems[..options.limit.unwrap_or(usize::MAX).min(problems.len())];
    if problems.is_empty() {
        return Err(EvalError::Settings("no problems to evaluate".into()));
    }
    let paths = EvalPaths::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let config = EvalConfig::new(teacher.model(), options, checker.limits());
    config.establish(&paths, options.force)?;
    repair_torn_tail(&paths.results())?;
    let done: HashSet<String> = read_journal::<ProblemResult>(&paths.results())?
        .into_iter()
        .filter(|r| r.n == options.samples)
        .map(|r| r.problem_id)
        .collect();
    let mut writer = JsonlWriter::<ProblemResult>::append(paths.results())?;

    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut queued = HashSet::new();
    let sanitize = options.sanitize;
    let todo: Vec<&Problem> = problems
        .iter()
        .filter(|p| !done.contains(&p.id) && queued.insert(p.id.clone()))
        .collect();
    for (index, problem) in todo.iter().enumerate() {
        for sample in 0..options.samples {
            let (teacher, checker, permits) = (
                Arc::clone(&teacher),
                Arc::clone(&checker),
                Arc::clone(&permits),
            );
            let problem = (*problem).clone();
            let request = ChatRequest {
                messages: eval_messages(&problem),
                params: options.params.for_sample(sample),
            };
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let result =
                    run_sample(&*teacher, &checker, &problem, request, sample, sanitize).await;
                (index, result)
            });
        }
    }

    let mut pending: HashMap<usize, Vec<SampleResult>> = HashMap::new();
    let mut failed: HashSet<usize> = HashSet::new();
    let mut inv = Invocation::default();
    let mut fatal = None;
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = match joined {
            Ok(pair) => pair,
            Err(e) if e.is_cancelled() => continue,
            Err(e) => {
                if fatal.is_none() {
                    fatal = Some(EvalError::Internal(format!("a worker failed: {e}")));
                    tasks.abort_all();
                }
                continue;
            }
        };
        match result {
            Ok(sample) => {
                inv.teacher_calls += 1;
                inv.completion_tokens += sample.completion_tokens.unwrap_or(0);
                let list = pending.entry(index).or_default();
                list.push(sample);
                if list.len() == options.samples as usize && !failed.contains(&index) {
                    let mut samples = pending.remove(&index).unwrap_or_default();
                    samples.sort_by_key(|s| s.sample);
                    let id = todo.get(index).map(|p| p.id.clone()).unwrap_or_default();
                    let result = problem_result(id, samples, &options.ks);
                    if let Err(e) = writer.write(&result) {
                        fatal.get_or_insert(e.into());
                        tasks.abort_all();
                        continue;
                    }
                    inv.finished_now += 1;
                    tracing::info!(
                        problem = %result.problem_id,
                        "{}/{} samples passed",
                        result.c,
                        result.n
                    );
                    if let Some(f) = on_result {
                        f(&result);
                    }
                }
            }
            Err(SampleError::Teacher(e)) => {
                inv.teacher_errors += 1;
                if failed.insert(index) {
                    let id = todo.get(index).map(|p| p.id.as_str()).unwrap_or("");
                    tracing::warn!(problem = %id, "left unfinished: {e}");
                }
            }
            Err(SampleError::Fatal(e)) => {
                if fatal.is_none() {
                    tracing::error!("stopping the eval: {e}");
                    fatal = Some(e);
                    tasks.abort_all();
                }
            }
        }
    }
    drop(writer);
    inv.wall_time_s = start.elapsed().as_secs_f64();
    let summary = summarize(&paths, &config, problems, options, &inv)?;
    match fatal {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// One sample: ask, extract, assemble, check.
async fn run_sample(
    teacher: &dyn Teacher,
    checker: &Checker,
    problem: &Problem,
    request: ChatRequest,
    sample: u32,
    sanitize: bool,
) -> Result<SampleResult, SampleError> {
    let t0 = Instant::now();
    let answer = match teacher.complete(&request).await {
        Ok(a) => a,
        Err(e) if e.is_fatal() => return Err(SampleError::Fatal(e.into())),
        Err(e) => return Err(SampleError::Teacher(e)),
    };
    let generation_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (code, class, detail, duration_ms) = match extract_code(&answer.content) {
        Ok(code) => {
            let program = assemble(problem, &code);
            let fatal = |e: sandbox::SandboxError| SampleError::Fatal(e.into());
            let v = if sanitize {
                // The gate on the answer itself, so syntax errors stay `syntax`.
                match checker.compile_gate(&program).await.map_err(fatal)? {
                    Some(syntax) => syntax,
                    None => {
                        // synth's own stripping (crate::strip): only imports,
                        // definitions and assignments of the program run.
                        let kept = checker.strip_demo_code(&program).await.map_err(fatal)?;
                        let program = kept.unwrap_or(program);
                        checker.check(problem, &program).await.map_err(fatal)?
                    }
                }
            } else {
                checker.check(problem, &program).await.map_err(fatal)?
            };
            (Some(code), v.class, v.detail, v.duration_ms)
        }
        Err(e) => (None, VerdictClass::NoCode, e.to_string(), 0),
    };
    Ok(SampleResult {
        sample,
        status: class,
        code,
        completion: answer.content,
        detail,
        duration_ms,
        generation_ms,
        completion_tokens: answer.usage.map(|u| u.completion_tokens),
        finish_reason: answer.finish_reason,
    })
}

/// The results line of a problem whose samples are all in.
fn problem_result(problem_id: String, samples: Vec<SampleResult>, ks: &[u32]) -> ProblemResult {
    let n = samples.len() as u32;
    let c = samples
        .iter()
        .filter(|s| s.status == VerdictClass::Passed)
        .count() as u32;
    let pass_at_k: BTreeMap<u32, f64> = ks
        .iter()
        .filter_map(|&k| pass_at_k(u64::from(n), u64::from(c), u64::from(k)).map(|v| (k, v)))
        .collect();
    ProblemResult {
        format: RESULT_FORMAT.into(),
        problem_id,
        n,
        c,
        pass_at_k,
        samples,
    }
}
