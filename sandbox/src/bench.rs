//! Throughput benchmark: the same programs through the sandbox and through native
//! subprocesses on the same number of workers, in one process, with verdicts compared.

use crate::native::{NativeOutcome, run_native};
use crate::{Job, Limits, Outcome, Sandbox, SandboxError};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One program of a benchmark set.
#[derive(Debug, Clone)]
pub struct BenchProgram {
    /// Name for reports (e.g. the task id).
    pub name: String,
    /// The source.
    pub code: String,
}

/// Results of [`compare_with_native`].
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Programs run (each once per side).
    pub programs: usize,
    /// Workers used on each side.
    pub workers: usize,
    /// Sandbox executions per second.
    pub sandbox_per_s: f64,
    /// Native executions per second.
    pub native_per_s: f64,
    /// Programs passing in the sandbox.
    pub sandbox_passed: usize,
    /// Programs passing natively.
    pub native_passed: usize,
    /// Names of programs whose verdicts differ.
    pub disagreements: Vec<String>,
}

impl BenchReport {
    /// Sandbox throughput over native throughput.
    pub fn ratio(&self) -> f64 {
        self.sandbox_per_s / self.native_per_s
    }
}

/// Runs every program through `sandbox` and through `python -I -S` subprocesses on
/// `sandbox.workers()` threads, with the same deadline, and compares verdicts.
pub fn compare_with_native(
    sandbox: &Sandbox,
    python: &Path,
    programs: &[BenchProgram],
    timeout: Duration,
) -> Result<BenchReport, SandboxError> {
    let workers = sandbox.workers();
    let jobs: Vec<Job> = programs
        .iter()
        .map(|p| {
            Job::new(p.code.clone()).with_limits(Limits {
                timeout,
                ..Limits::default()
            })
        })
        .collect();
    let start = Instant::now();
    let sandboxed: Vec<Outcome> = sandbox
        .run_all_blocking(jobs)
        .into_iter()
        .collect::<Result<_, _>>()?;
    let sandbox_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let native = run_native_pool(python, programs, timeout, workers)?;
    let native_secs = start.elapsed().as_secs_f64();

    let disagreements = programs
        .iter()
        .zip(sandboxed.iter().zip(&native))
        .filter(|(_, (s, n))| s.passed() != n.passed())
        .map(|(p, _)| p.name.clone())
        .collect();
    Ok(BenchReport {
        programs: programs.len(),
        workers,
        sandbox_per_s: programs.len() as f64 / sandbox_secs,
        native_per_s: programs.len() as f64 / native_secs,
        sandbox_passed: sandboxed.iter().filter(|o| o.passed()).count(),
        native_passed: native.iter().filter(|o| o.passed()).count(),
        disagreements,
    })
}

fn run_native_pool(
    python: &Path,
    programs: &[BenchProgram],
    timeout: Duration,
    workers: usize,
) -> Result<Vec<NativeOutcome>, SandboxError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<NativeOutcome, SandboxError>>>> =
        Mutex::new((0..programs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(program) = programs.get(i) else {
                        break;
                    };
                    let outcome = run_native(python, &program.code, timeout);
                    if let Ok(mut slots) = results.lock() {
                        slots[i] = Some(outcome);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .map_err(|_| SandboxError::Engine("a native worker panicked".into()))?
        .into_iter()
        .map(|slot| slot.unwrap_or(Err(SandboxError::ExecutorStopped)))
        .collect()
}
