//! Running a synth job on a run directory: establish or check `config.json`, repair
//! and read the journals, work on the unfinished problems concurrently, then rebuild
//! `sft.jsonl`, `dpo.jsonl`, `report.json` and `summary.txt` from the journals.

use crate::SynthError;
use crate::check::{Checker, VerdictClass};
use crate::options::SynthOptions;
use crate::outputs::{ProvenanceBase, dpo_records, sft_records};
use crate::problem_loop::{ProblemError, Shared};
use crate::report::{BadProblem, Report, Tally};
use crate::run::cache::CallCache;
use crate::run::config::RunConfig;
use crate::run::journal::{DoneRecord, DoneStatus, read_attempts, read_journal, repair_torn_tail};
use crate::run::{RunPaths, write_atomic, write_jsonl};
use crate::teacher::Teacher;
use datasets::jsonl::{JsonlReader, JsonlWriter, ReadOptions, ReadReport};
use datasets::records::{Attempt, Problem};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Reads a problems file. `lenient` skips malformed lines (each kept in the returned
/// report as `file:line: field: reason`); strict stops at the first. Later problems
/// repeating an earlier id are dropped with a warning.
pub fn load_problems(path: &Path, lenient: bool) -> Result<(Vec<Problem>, ReadReport), SynthError> {
    let opts = if lenient {
        ReadOptions::lenient()
    } else {
        ReadOptions::default()
    };
    let mut reader = JsonlReader::<Problem>::open(path, opts)?;
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    for item in reader.by_ref() {
        let parsed = item?;
        if seen.insert(parsed.record.id.clone()) {
            problems.push(parsed.record);
        } else {
            tracing::warn!(
                "{}:{}: duplicate problem id `{}` skipped",
                path.display(),
                parsed.line,
                parsed.record.id
            );
        }
    }
    Ok((problems, reader.into_report()))
}

/// Runs (or resumes) a synth job in `dir` and returns its report.
///
/// Problems already in `done.jsonl` are skipped; teacher calls are served from
/// `cache/` when possible. A fatal teacher error (bad key, unreachable server, unknown
/// model) stops the run after writing the outputs of what is done; a teacher that
/// keeps failing on one problem leaves that problem unfinished and the run goes on.
pub async fn run_synth(
    dir: &Path,
    problems: &[Problem],
    teacher: Arc<dyn Teacher>,
    checker: Arc<Checker>,
    options: &SynthOptions,
) -> Result<Report, SynthError> {
    let start = Instant::now();
    if options.samples == 0 || options.accept == 0 {
        return Err(SynthError::Settings(
            "samples and accept must be at least 1".into(),
        ));
    }
    let paths = RunPaths::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| SynthError::io(dir, e))?;
    RunConfig::new(teacher.model(), options, checker.limits()).establish(&paths, options.force)?;
    repair_torn_tail(&paths.attempts())?;
    repair_torn_tail(&paths.done())?;
    let done_ids: HashSet<String> = read_journal::<DoneRecord>(&paths.done())?
        .into_iter()
        .map(|d| d.problem_id)
        .collect();
    let journaled = read_attempts(&paths.attempts())?
        .into_iter()
        .map(|a| (a.problem_id, a.sample, a.turn))
        .collect();
    let shared = Arc::new(Shared {
        teacher,
        checker: Arc::clone(&checker),
        options: options.clone(),
        cache: CallCache::open(paths.cache())?,
        attempts: Mutex::new(JsonlWriter::append(paths.attempts())?),
        done: Mutex::new(JsonlWriter::append(paths.done())?),
        journaled,
        calls: AtomicU64::new(0),
        cache_hits: AtomicU64::new(0),
    });

    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut queued = HashSet::new();
    for problem in problems {
        if done_ids.contains(&problem.id) || !queued.insert(problem.id.clone()) {
            continue;
        }
        let (shared, permits, problem) =
            (Arc::clone(&shared), Arc::clone(&permits), problem.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = shared.solve(&problem).await;
            (problem.id, result)
        });
    }
    let (mut finished_now, mut teacher_errors, mut fatal) = (0u64, 0u64, None);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(_))) => finished_now += 1,
            Ok((id, Err(ProblemError::Teacher(e)))) => {
                tracing::warn!(problem = %id, "left unfinished: {e}");
                teacher_errors += 1;
            }
            Ok((_, Err(ProblemError::Fatal(e)))) => {
                if fatal.is_none() {
                    tracing::error!("stopping the run: {e}");
                    fatal = Some(e);
                    tasks.abort_all();
                }
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                if fatal.is_none() {
                    fatal = Some(SynthError::Internal(format!("a worker failed: {e}")));
                    tasks.abort_all();
                }
            }
        }
    }
    let base = ProvenanceBase {
        runtime_sha256: checker.runtime_sha256().map(str::to_string),
        limits: checker.limits(),
    };
    let wall = start.elapsed().as_secs_f64();
    let invocation = Invocation {
        teacher_calls: shared.calls.load(Ordering::Relaxed),
        cache_hits: shared.cache_hits.load(Ordering::Relaxed),
        teacher_errors,
        finished_now,
        wall_time_s: wall,
    };
    drop(shared);
    let report = write_outputs(&paths, problems, options, &base, &invocation)?;
    match fatal {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Counters of one invocation, for the report.
struct Invocation {
    teacher_calls: u64,
    cache_hits: u64,
    teacher_errors: u64,
    finished_now: u64,
    wall_time_s: f64,
}

/// Rebuilds the derived files from the journals.
fn write_outputs(
    paths: &RunPaths,
    problems: &[Problem],
    options: &SynthOptions,
    base: &ProvenanceBase,
    inv: &Invocation,
) -> Result<Report, SynthError> {
    let mut done: HashMap<String, DoneRecord> = HashMap::new();
    for d in read_journal::<DoneRecord>(&paths.done())? {
        done.entry(d.problem_id.clone()).or_insert(d);
    }
    let mut by_problem: BTreeMap<String, Vec<Attempt>> = BTreeMap::new();
    for a in read_attempts(&paths.attempts())? {
        by_problem.entry(a.problem_id.clone()).or_default().push(a);
    }
    for list in by_problem.values_mut() {
        list.sort_by_key(|a| (a.sample, a.turn));
        list.dedup_by_key(|a| (a.sample, a.turn));
    }
    let (mut sft, mut dpo) = (Vec::new(), Vec::new());
    let (mut finished, mut unfinished, mut accepted) = (0u64, 0u64, 0u64);
    let mut bad_problems = Vec::new();
    let mut tally = Tally::default();
    let mut seen = HashSet::new();
    let empty = Vec::new();
    for problem in problems {
        if !seen.insert(problem.id.as_str()) {
            continue;
        }
        match done.get(&problem.id) {
            None => unfinished += 1,
            Some(d) if d.status == DoneStatus::BadProblem => bad_problems.push(BadProblem {
                id: problem.id.clone(),
                reason: d.reason.clone().unwrap_or_default(),
            }),
            Some(_) => {
                finished += 1;
                let attempts = by_problem.get(&problem.id).unwrap_or(&empty);
                tally.add(attempts);
                let passed = attempts.iter().any(|a| {
                    VerdictClass::of_record(a.outcome.status, a.code.is_some())
                        == VerdictClass::Passed
                });
                accepted += u64::from(passed);
                sft.extend(sft_records(attempts, options, base));
                dpo.extend(dpo_records(attempts, options, base));
            }
        }
    }
    write_jsonl(&paths.sft(), &sft)?;
    write_jsonl(&paths.dpo(), &dpo)?;
    let rates = tally.pass_rates(options.max_feedback);
    let report = Report {
        problems: seen.len() as u64,
        finished,
        unfinished,
        bad_problems,
        accepted_problems: accepted,
        samples: tally.samples,
        attempts: tally.attempts,
        first_try_pass_rate: rates.first().copied().unwrap_or(0.0),
        pass_rate_after_turn: rates,
        failure_classes: tally.failure_classes,
        sft_records: sft.len() as u64,
        dpo_records: dpo.len() as u64,
        tokens_in: tally.tokens_in,
        tokens_out: tally.tokens_out,
        teacher_calls: inv.teacher_calls,
        cache_hits: inv.cache_hits,
        teacher_errors: inv.teacher_errors,
        finished_now: inv.finished_now,
        wall_time_s: inv.wall_time_s,
        problems_per_s: ratio_f(inv.finished_now, inv.wall_time_s),
    };
    let json =
        serde_json::to_vec_pretty(&report).map_err(|e| SynthError::Internal(e.to_string()))?;
    write_atomic(&paths.report(), &json)?;
    write_atomic(&paths.summary(), report.summary().as_bytes())?;
    Ok(report)
}

fn ratio_f(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}
