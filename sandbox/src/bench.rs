//! Throughput benchmark: the same programs through the sandbox and through native
//! subprocesses on the same number of workers, in one process, with verdicts compared.
//! Rounds alternate the two sides so that load from elsewhere on the machine hits both.

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

/// One round: every program once through each side.
#[derive(Debug, Clone, Copy)]
pub struct RoundTimes {
    /// Wall time of the sandbox side.
    pub sandbox: Duration,
    /// Wall time of the native side.
    pub native: Duration,
}

/// Results of [`compare_with_native`].
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Programs per round.
    pub programs: usize,
    /// Workers used on each side.
    pub workers: usize,
    /// Per-round wall times.
    pub rounds: Vec<RoundTimes>,
    /// Mean time inside the sandbox per job (instantiation to end), excluding queueing.
    pub sandbox_job_mean: Duration,
    /// Programs passing in the sandbox (last round).
    pub sandbox_passed: usize,
    /// Programs passing natively (last round).
    pub native_passed: usize,
    /// Names of programs whose verdicts differ in any round.
    pub disagreements: Vec<String>,
    /// Per program, in input order: its time on each side, summed over the rounds.
    pub per_program: Vec<RoundTimes>,
}

impl BenchReport {
    fn total(&self, side: impl Fn(&RoundTimes) -> Duration) -> f64 {
        self.rounds.iter().map(side).sum::<Duration>().as_secs_f64()
    }

    /// Sandbox executions per second over all rounds.
    pub fn sandbox_per_s(&self) -> f64 {
        (self.programs * self.rounds.len()) as f64 / self.total(|r| r.sandbox)
    }

    /// Native executions per second over all rounds.
    pub fn native_per_s(&self) -> f64 {
        (self.programs * self.rounds.len()) as f64 / self.total(|r| r.native)
    }

    /// Sandbox throughput over native throughput.
    pub fn ratio(&self) -> f64 {
        self.sandbox_per_s() / self.native_per_s()
    }

    /// The `n` programs that took longest in the sandbox, as (index, mean time per round
    /// on each side), slowest first.
    pub fn slowest(&self, n: usize) -> Vec<(usize, RoundTimes)> {
        let rounds = u32::try_from(self.rounds.len().max(1)).unwrap_or(u32::MAX);
        let mut all: Vec<(usize, RoundTimes)> = self
            .per_program
            .iter()
            .map(|t| RoundTimes {
                sandbox: t.sandbox / rounds,
                native: t.native / rounds,
            })
            .enumerate()
            .collect();
        all.sort_by_key(|(_, times)| std::cmp::Reverse(times.sandbox));
        all.truncate(n);
        all
    }
}

/// Runs every program through `sandbox` and through `python -I -S` subprocesses on
/// `sandbox.workers()` threads, with the same deadline, `rounds` times alternating the
/// sides, and compares verdicts.
pub fn compare_with_native(
    sandbox: &Sandbox,
    python: &Path,
    programs: &[BenchProgram],
    timeout: Duration,
    rounds: usize,
) -> Result<BenchReport, SandboxError> {
    let workers = sandbox.workers();
    let limits = Limits {
        timeout,
        ..Limits::default()
    };
    let mut report = BenchReport {
        programs: programs.len(),
        workers,
        rounds: Vec::new(),
        sandbox_job_mean: Duration::ZERO,
        sandbox_passed: 0,
        native_passed: 0,
        disagreements: Vec::new(),
        per_program: vec![
            RoundTimes {
                sandbox: Duration::ZERO,
                native: Duration::ZERO,
            };
            programs.len()
        ],
    };
    let mut job_time = Duration::ZERO;
    for _ in 0..rounds.max(1) {
        let jobs: Vec<Job> = programs
            .iter()
            .map(|p| Job::new(p.code.clone()).with_limits(limits))
            .collect();
        let start = Instant::now();
        let sandboxed: Vec<Outcome> = sandbox
            .run_all_blocking(jobs)
            .into_iter()
            .collect::<Result<_, _>>()?;
        let sandbox_time = start.elapsed();

        let start = Instant::now();
        let native = run_native_pool(python, programs, timeout, workers)?;
        let native_time = start.elapsed();

        report.rounds.push(RoundTimes {
            sandbox: sandbox_time,
            native: native_time,
        });
        job_time += sandboxed.iter().map(|o| o.duration).sum::<Duration>();
        for (total, (s, n)) in report
            .per_program
            .iter_mut()
            .zip(sandboxed.iter().zip(&native))
        {
            total.sandbox += s.duration;
            total.native += n.duration;
        }
        for (p, (s, n)) in programs.iter().zip(sandboxed.iter().zip(&native)) {
            if s.passed() != n.passed() && !report.disagreements.contains(&p.name) {
                report.disagreements.push(p.name.clone());
            }
        }
        report.sandbox_passed = sandboxed.iter().filter(|o| o.passed()).count();
        report.native_passed = native.iter().filter(|o| o.passed()).count();
    }
    let jobs = u32::try_from(programs.len() * report.rounds.len()).unwrap_or(u32::MAX);
    report.sandbox_job_mean = job_time / jobs.max(1);
    Ok(report)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn times(sandbox_ms: u64, native_ms: u64) -> RoundTimes {
        RoundTimes {
            sandbox: Duration::from_millis(sandbox_ms),
            native: Duration::from_millis(native_ms),
        }
    }

    #[test]
    fn slowest_lists_programs_by_mean_sandbox_time_per_round() {
        let report = BenchReport {
            programs: 3,
            workers: 2,
            rounds: vec![times(10, 30); 2],
            sandbox_job_mean: Duration::ZERO,
            sandbox_passed: 3,
            native_passed: 3,
            disagreements: Vec::new(),
            // Sums over the two rounds.
            per_program: vec![times(4, 20), times(400, 200), times(40, 60)],
        };
        let slowest = report.slowest(2);
        let listed: Vec<(usize, u64, u64)> = slowest
            .iter()
            .map(|(i, t)| {
                let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                (*i, ms(t.sandbox), ms(t.native))
            })
            .collect();
        assert_eq!(listed, vec![(1, 200, 100), (2, 20, 30)]);
        assert!(report.slowest(0).is_empty());
        assert_eq!(report.slowest(10).len(), 3);
    }
}
