//! The eval summary: mean pass@k over the finished problems, counts by outcome,
//! tokens/s, written as `summary.json` and printed as a table (`summary.txt`).

use super::{EvalConfig, EvalError, EvalOptions, EvalPaths, ProblemResult, pass_at_k};
use crate::run::journal::read_journal;
use crate::run::write_atomic;
use datasets::records::Problem;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Format tag of `summary.json`.
pub const SUMMARY_FORMAT: &str = "eval-summary.v1";

/// Counters of one invocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Invocation {
    pub teacher_calls: u64,
    pub completion_tokens: u64,
    pub teacher_errors: u64,
    pub finished_now: u64,
    pub wall_time_s: f64,
}

/// What an eval measured (`summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSummary {
    /// Always [`SUMMARY_FORMAT`].
    pub format: String,
    /// The model evaluated.
    pub model: String,
    /// The benchmark.
    pub bench: String,
    /// Samples per problem (`n`).
    pub samples: u32,
    /// The `--limit`, if any.
    pub limit: Option<usize>,
    /// Problems in this eval (after the limit).
    pub problems: u64,
    /// Problems with all samples checked (these make the pass@k means).
    pub finished: u64,
    /// Problems left unfinished (a teacher failure, or an interrupted run).
    pub unfinished: u64,
    /// Mean pass@k over the finished problems, per k.
    pub pass_at_k: BTreeMap<u32, f64>,
    /// Samples by outcome status (`passed`, `failed`, `error`, `syntax`, `no_code`,
    /// `timeout`, `memory`, `output_limit`).
    pub outcomes: BTreeMap<String, u64>,
    /// Tokens generated over all finished samples, when reported.
    pub completion_tokens: u64,
    /// Generation throughput of this invocation: the completion tokens it received
    /// over its wall time (`null` when no usage was reported). Each sample's own
    /// teacher time is in `results.jsonl` (`generation_ms`).
    pub tokens_per_s: Option<f64>,
    /// Teacher answers received by this invocation.
    pub teacher_calls: u64,
    /// Requests of this invocation that failed after retries.
    pub teacher_errors: u64,
    /// Problems finished by this invocation.
    pub finished_now: u64,
    /// Wall time of this invocation in seconds.
    pub wall_time_s: f64,
}

impl EvalSummary {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{:<12} {}", "model", self.model);
        let limit = self
            .limit
            .map(|l| format!(", --limit {l}"))
            .unwrap_or_default();
        let _ = writeln!(
            t,
            "{:<12} {} ({} problems{limit}, n = {})",
            "bench", self.bench, self.problems, self.samples
        );
        if self.unfinished > 0 {
            let _ = writeln!(
                t,
                "{:<12} {} of {} problems finished; pass@k below covers those only",
                "partial", self.finished, self.problems
            );
        }
        for (k, v) in &self.pass_at_k {
            let _ = writeln!(t, "{:<12} {:.2}%", format!("pass@{k}"), 100.0 * v);
        }
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let _ = writeln!(t, "{:<12} {}", "outcomes", outcomes.join(", "));
        if let Some(tps) = self.tokens_per_s {
            let _ = writeln!(
                t,
                "{:<12} {tps:.1} this run ({} tokens generated in all)",
                "tokens/s", self.completion_tokens
            );
        }
        let _ = writeln!(
            t,
            "{:<12} {} teacher calls, {} errors, {} problems in {:.1} s",
            "this run",
            self.teacher_calls,
            self.teacher_errors,
            self.finished_now,
            self.wall_time_s
        );
        t
    }
}

/// Reads the finished problems of an eval directory's `results.jsonl` (first line
/// per problem id wins; a torn or bad line is skipped with a warning).
pub fn read_results(paths: &EvalPaths) -> Result<Vec<ProblemResult>, EvalError> {
    let mut seen = std::collections::HashSet::new();
    Ok(read_journal::<ProblemResult>(&paths.results())?
        .into_iter()
        .filter(|r| seen.insert(r.problem_id.clone()))
        .collect())
}

/// Builds the summary of `problems` from `results.jsonl` and writes it.
pub(crate) fn summarize(
    paths: &EvalPaths,
    config: &EvalConfig,
    problems: &[Problem],
    options: &EvalOptions,
    inv: &Invocation,
) -> Result<EvalSummary, EvalError> {
    let results: HashMap<String, ProblemResult> = read_results(paths)?
        .into_iter()
        .filter(|r| r.n == options.samples)
        .map(|r| (r.problem_id.clone(), r))
        .collect();
    let mut sums: BTreeMap<u32, f64> = options.ks.iter().map(|&k| (k, 0.0)).collect();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut finished, mut tokens) = (0u64, 0u64);
    let mut seen = std::collections::HashSet::new();
    for problem in problems {
        if !seen.insert(problem.id.as_str()) {
            continue;
        }
        let Some(r) = results.get(&problem.id) else {
            continue;
        };
        finished += 1;
        for (k, sum) in sums.iter_mut() {
            // Recomputed from (n, c), so a forced resume with other ks stays exact.
            *sum += pass_at_k(u64::from(r.n), u64::from(r.c), u64::from(*k)).unwrap_or(0.0);
        }
        for s in &r.samples {
            *outcomes.entry(s.status.as_str().to_string()).or_default() += 1;
            tokens += s.completion_tokens.unwrap_or(0);
        }
    }
    let total = seen.len() as u64;
    let pass_at_k = sums
        .into_iter()
        .map(|(k, s)| {
            (
                k,
                if finished > 0 {
                    s / finished as f64
                } else {
                    0.0
                },
            )
        })
        .collect();
    let summary = EvalSummary {
        format: SUMMARY_FORMAT.into(),
        model: config.model().to_string(),
        bench: options.bench.name().into(),
        samples: options.samples,
        limit: options.limit,
        problems: total,
        finished,
        unfinished: total - finished,
        pass_at_k,
        outcomes,
        completion_tokens: tokens,
        tokens_per_s: (inv.completion_tokens > 0 && inv.wall_time_s > 0.0)
            .then(|| inv.completion_tokens as f64 / inv.wall_time_s),
        teacher_calls: inv.teacher_calls,
        teacher_errors: inv.teacher_errors,
        finished_now: inv.finished_now,
        wall_time_s: inv.wall_time_s,
    };
    let json = serde_json::to_vec_pretty(&summary)
        .map_err(|e| EvalError::Internal(format!("serializing the summary: {e}")))?;
    write_atomic(&paths.summary(), &json)?;
    write_atomic(&paths.summary_text(), summary.table().as_bytes())?;
    Ok(summary)
}
