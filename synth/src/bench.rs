//! `distill bench synth`: the pipeline's own throughput, measured with a scripted
//! teacher of fixed latency on trivial problems, so the ideal rate is known
//! (`concurrency / latency`) and any shortfall is the pipeline's.

use crate::SynthError;
use crate::check::Checker;
use crate::options::SynthOptions;
use crate::synth::run_synth;
use crate::teacher::ChatRequest;
use crate::teacher::scripted::ScriptedTeacher;
use datasets::records::Problem;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The result of [`bench_synth`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthBench {
    /// Problems run.
    pub problems: usize,
    /// Teacher requests served at once.
    pub concurrency: usize,
    /// The teacher's fixed latency in seconds.
    pub latency_s: f64,
    /// Wall time of the whole run (setup of the run directory included).
    pub seconds: f64,
    /// Problems finished per second.
    pub problems_per_s: f64,
    /// `concurrency / latency`: the rate if the pipeline cost nothing.
    pub ideal_per_s: f64,
    /// `problems_per_s / ideal_per_s`.
    pub efficiency: f64,
    /// Problems whose answer passed (must equal `problems`).
    pub accepted: u64,
}

/// The trivial problem number `i`: return `i`.
pub fn bench_problem(i: usize) -> Problem {
    Problem::assert_style(
        format!("bench/{i}"),
        format!("Write `f()` that returns {i}."),
        format!("assert f() == {i}\n"),
    )
}

/// The scripted teacher's answer: the right function for the number in the prompt.
fn bench_answer(request: &ChatRequest) -> String {
    let number = request
        .messages
        .get(1)
        .and_then(|m| m.content.split("returns ").nth(1))
        .and_then(|rest| rest.split('.').next())
        .unwrap_or("0")
        .to_string();
    format!("```python\ndef f():\n    return {number}\n```\n")
}

/// Runs `problems` trivial problems through the full pipeline (preflight, cache,
/// journal, sandbox gate and tests, outputs) in a fresh temporary run directory, with
/// a scripted teacher that answers correctly after `latency`, serving `concurrency`
/// requests at a time (the pipeline keeps `2 * concurrency` problems in flight).
pub async fn bench_synth(
    checker: Arc<Checker>,
    problems: usize,
    latency: Duration,
    concurrency: usize,
) -> Result<SynthBench, SynthError> {
    let dir = tempfile::tempdir().map_err(|e| SynthError::io(std::env::temp_dir(), e))?;
    let list: Vec<Problem> = (0..problems).map(bench_problem).collect();
    let concurrency = concurrency.max(1);
    let teacher = Arc::new(
        ScriptedTeacher::new("scripted-bench", latency, Arc::new(bench_answer))
            .with_max_concurrency(concurrency),
    );
    // Twice as many problems in flight as teacher slots, so sandbox work on some
    // problems overlaps the teacher's answers to others and no slot idles.
    let options = SynthOptions {
        samples: 1,
        max_feedback: 0,
        accept: 1,
        concurrency: 2 * concurrency,
        ..SynthOptions::default()
    };
    let start = Instant::now();
    let report = run_synth(dir.path(), &list, teacher, checker, &options).await?;
    let seconds = start.elapsed().as_secs_f64();
    let problems_per_s = if seconds > 0.0 {
        problems as f64 / seconds
    } else {
        0.0
    };
    let ideal_per_s = concurrency as f64 / latency.as_secs_f64().max(1e-9);
    Ok(SynthBench {
        problems,
        concurrency,
        latency_s: latency.as_secs_f64(),
        seconds,
        problems_per_s,
        ideal_per_s,
        efficiency: problems_per_s / ideal_per_s,
        accepted: report.accepted_problems,
    })
}
