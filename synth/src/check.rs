//! Checking an answer in the sandbox: the static gate (does the code compile?), then
//! the problem's tests (assert-style programs, or stdin/stdout cases), classified into
//! a [`Verdict`] that feeds both the journal and the feedback message.

use datasets::records::{Problem, Status as RecordStatus, TestType};
use sandbox::artifacts::{ArtifactStore, FetchMode};
use sandbox::{Job, Limits, Outcome, Sandbox, SandboxError, SandboxOptions, Status};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How one answer fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictClass {
    /// Every test passed.
    Passed,
    /// The answer had no code block.
    NoCode,
    /// The code does not compile (the static gate).
    Syntax,
    /// A test failed: an assertion, or wrong output on a stdio case.
    Failed,
    /// Another exception (or a non-zero exit).
    Error,
    /// The time limit was hit.
    Timeout,
    /// The memory limit was hit.
    Memory,
    /// The output limit was hit.
    OutputLimit,
}

impl VerdictClass {
    /// The status written in the attempt record (`no_code` is written as `syntax`
    /// with `code: null`).
    pub fn record_status(self) -> RecordStatus {
        match self {
            VerdictClass::Passed => RecordStatus::Passed,
            VerdictClass::NoCode | VerdictClass::Syntax => RecordStatus::Syntax,
            VerdictClass::Failed => RecordStatus::Failed,
            VerdictClass::Error => RecordStatus::Error,
            VerdictClass::Timeout => RecordStatus::Timeout,
            VerdictClass::Memory => RecordStatus::Memory,
            VerdictClass::OutputLimit => RecordStatus::OutputLimit,
        }
    }

    /// The class of a journaled attempt.
    pub fn of_record(status: RecordStatus, has_code: bool) -> VerdictClass {
        match status {
            RecordStatus::Passed => VerdictClass::Passed,
            RecordStatus::Syntax if !has_code => VerdictClass::NoCode,
            RecordStatus::Syntax => VerdictClass::Syntax,
            RecordStatus::Failed => VerdictClass::Failed,
            RecordStatus::Error => VerdictClass::Error,
            RecordStatus::Timeout => VerdictClass::Timeout,
            RecordStatus::Memory => VerdictClass::Memory,
            RecordStatus::OutputLimit => VerdictClass::OutputLimit,
        }
    }

    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictClass::Passed => "passed",
            VerdictClass::NoCode => "no_code",
            VerdictClass::Syntax => "syntax",
            VerdictClass::Failed => "failed",
            VerdictClass::Error => "error",
            VerdictClass::Timeout => "timeout",
            VerdictClass::Memory => "memory",
            VerdictClass::OutputLimit => "output_limit",
        }
    }

    /// Words for the feedback message.
    pub fn describe(self) -> &'static str {
        match self {
            VerdictClass::Passed => "all tests passed",
            VerdictClass::NoCode => "no code block was found in your answer",
            VerdictClass::Syntax => "the code does not compile (syntax error)",
            VerdictClass::Failed => "a test failed",
            VerdictClass::Error => "the program raised an error",
            VerdictClass::Timeout => "the program exceeded the time limit",
            VerdictClass::Memory => "the program exceeded the memory limit",
            VerdictClass::OutputLimit => "the program wrote too much output",
        }
    }
}

/// The classified result of checking one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// How it fared.
    pub class: VerdictClass,
    /// One or a few lines for the teacher: the failing assertion or exception, or the
    /// stdio case that differed.
    pub detail: String,
    /// Captured stdout of the failing (or last) run.
    pub stdout: String,
    /// Captured stderr (traceback) of the failing (or last) run.
    pub stderr: String,
    /// Exit code of that run, when the interpreter exited.
    pub exit_code: Option<i32>,
    /// Total sandbox wall time in milliseconds.
    pub duration_ms: u64,
}

impl Verdict {
    /// Whether the answer passed.
    pub fn passed(&self) -> bool {
        self.class == VerdictClass::Passed
    }

    /// The verdict for an answer without code.
    pub fn no_code(reason: &str) -> Verdict {
        Verdict {
            class: VerdictClass::NoCode,
            detail: reason.to_string(),
            stdout: String::new(),
            stderr: String::new(),
            exit_code: None,
            duration_ms: 0,
        }
    }

    /// The journal form.
    pub fn to_record(&self) -> datasets::records::Outcome {
        datasets::records::Outcome {
            status: self.class.record_status(),
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
            exit_code: self.exit_code,
            duration_ms: self.duration_ms,
        }
    }
}

/// Compiles stdin as `main.py` without running it; prints the error and exits 1 when
/// it does not compile.
const COMPILE_GATE: &str = concat!(
    "import sys, traceback\n",
    "try:\n",
    "    compile(sys.stdin.read(), 'main.py', 'exec')\n",
    "except (SyntaxError, ValueError) as e:\n",
    "    sys.stderr.write(''.join(traceback.format_exception_only(type(e), e)))\n",
    "    sys.exit(1)\n",
);

/// Keys of `Problem::meta` that may hold a reference solution for the preflight.
pub const REFERENCE_KEYS: [&str; 3] = ["reference", "canonical_solution", "solution"];

/// Runs answers against problems in a sandbox.
pub struct Checker {
    sandbox: Arc<Sandbox>,
    limits: Limits,
    runtime_sha256: Option<String>,
}

impl Checker {
    /// A checker over an open sandbox; `runtime_sha256` is recorded in provenance.
    pub fn new(sandbox: Arc<Sandbox>, limits: Limits, runtime_sha256: Option<String>) -> Self {
        Checker {
            sandbox,
            limits,
            runtime_sha256,
        }
    }

    /// Opens the installed runtime (what `distill setup` fetched) with `workers`
    /// worker threads (default: one per core).
    pub fn open(workers: Option<usize>, limits: Limits) -> Result<Checker, SandboxError> {
        let store = ArtifactStore::from_env(FetchMode::Offline);
        let runtime = sandbox::runtime::locate(&store)?;
        let sha = runtime.sha256.clone();
        let sandbox = Sandbox::open(SandboxOptions {
            runtime: Some(runtime),
            workers,
            ..SandboxOptions::default()
        })?;
        Ok(Checker::new(Arc::new(sandbox), limits, Some(sha)))
    }

    /// The limits every job runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// sha256 of the runtime, when known.
    pub fn runtime_sha256(&self) -> Option<&str> {
        self.runtime_sha256.as_deref()
    }

    async fn run(&self, job: Job) -> Result<Outcome, SandboxError> {
        self.sandbox.run(job.with_limits(self.limits)).await
    }

    /// The static gate: `None` when `code` compiles, else the syntax-error verdict.
    pub async fn compile_gate(&self, code: &str) -> Result<Option<Verdict>, SandboxError> {
        let outcome = self
            .run(Job::new(COMPILE_GATE).with_stdin(code.as_bytes().to_vec()))
            .await?;
        if outcome.status == Status::Error && outcome.exit_code == Some(1) {
            let stderr = outcome.stderr.text();
            let detail = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("SyntaxError")
                .to_string();
            return Ok(Some(Verdict {
                class: VerdictClass::Syntax,
                detail,
                stdout: String::new(),
                stderr,
                exit_code: Some(1),
                duration_ms: millis(&outcome),
            }));
        }
        if outcome.status == Status::Syntax {
            return Err(SandboxError::Protocol(format!(
                "the compile gate itself does not compile: {}",
                outcome.summary()
            )));
        }
        Ok(None)
    }

    /// `code` without its top-level demo code (see [`crate::strip`]); `None` when it
    /// does not parse (the gate then reports the syntax error) or nothing is left.
    pub async fn strip_demo_code(&self, code: &str) -> Result<Option<String>, SandboxError> {
        let outcome = self
            .run(Job::new(crate::strip::STRIP_PROGRAM).with_stdin(code.as_bytes().to_vec()))
            .await?;
        if outcome.status != Status::Ok {
            return Ok(None);
        }
        let kept: Option<String> = serde_json::from_str(outcome.stdout.text().trim()).ok();
        Ok(kept.filter(|k| !k.trim().is_empty()))
    }

    /// Gate, then tests: the verdict on `code` for `problem`.
    pub async fn check(&self, problem: &Problem, code: &str) -> Result<Verdict, SandboxError> {
        if let Some(syntax) = self.compile_gate(code).await? {
            return Ok(syntax);
        }
        match problem.test_type {
            TestType::Assert => {
                let outcome = self.run(Job::new(problem.program(code))).await?;
                Ok(classify(&outcome, None))
            }
            TestType::Stdio => self.check_stdio(problem, code).await,
        }
    }

    async fn check_stdio(&self, problem: &Problem, code: &str) -> Result<Verdict, SandboxError> {
        let cases = problem.cases.as_deref().unwrap_or(&[]);
        let mut total_ms = 0;
        let mut last = None;
        for (i, case) in cases.iter().enumerate() {
            let outcome = self
                .run(Job::new(code).with_stdin(case.input.as_bytes().to_vec()))
                .await?;
            total_ms += millis(&outcome);
            let stdout = outcome.stdout.text();
            if outcome.status != Status::Ok {
                let mut v = classify(&outcome, Some(i));
                v.duration_ms = total_ms;
                return Ok(v);
            }
            if !same_output(&stdout, &case.output) {
                return Ok(Verdict {
                    class: VerdictClass::Failed,
                    detail: format!(
                        "Test case {} failed.\nInput:\n{}\nExpected output:\n{}\nYour output:\n{}",
                        i + 1,
                        case.input.trim_end(),
                        case.output.trim_end(),
                        crate::prompt::last_chars(stdout.trim_end(), 1000)
                    ),
                    stdout,
                    stderr: outcome.stderr.text(),
                    exit_code: outcome.exit_code,
                    duration_ms: total_ms,
                });
            }
            last = Some(outcome);
        }
        let mut v = match last {
            Some(outcome) => classify(&outcome, None),
            None => Verdict {
                class: VerdictClass::Error,
                detail: "the problem has no test cases".into(),
                stdout: String::new(),
                stderr: String::new(),
                exit_code: None,
                duration_ms: 0,
            },
        };
        v.duration_ms = total_ms;
        Ok(v)
    }

    /// Checks the problem itself before asking the teacher: its tests must compile,
    /// and a reference solution in `meta` (see [`REFERENCE_KEYS`]) must pass them.
    /// `Some(reason)` marks a bad problem.
    pub async fn preflight(&self, problem: &Problem) -> Result<Option<String>, SandboxError> {
        if problem.test_type == TestType::Assert
            && let Some(v) = self.compile_gate(&problem.tests).await?
        {
            return Ok(Some(format!("its tests do not compile: {}", v.detail)));
        }
        let reference = problem.meta.as_ref().and_then(|meta| {
            REFERENCE_KEYS
                .iter()
                .find_map(|k| meta.get(*k).and_then(|v| v.as_str()))
        });
        if let Some(code) = reference {
            let v = self.check(problem, code).await?;
            if !v.passed() {
                return Ok(Some(format!(
                    "its reference solution fails its own tests ({}): {}",
                    v.class.as_str(),
                    v.detail
                )));
            }
        }
        Ok(None)
    }
}

fn millis(outcome: &Outcome) -> u64 {
    u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX)
}

/// Classifies one sandbox outcome (`case`: the stdio case it ran, if any).
fn classify(outcome: &Outcome, case: Option<usize>) -> Verdict {
    let class = match outcome.status {
        Status::Ok => VerdictClass::Passed,
        Status::Error if outcome.is_assertion_error() => VerdictClass::Failed,
        Status::Error | Status::Trap => VerdictClass::Error,
        Status::Syntax => VerdictClass::Syntax,
        Status::Timeout => VerdictClass::Timeout,
        Status::MemoryLimit => VerdictClass::Memory,
        Status::OutputLimit => VerdictClass::OutputLimit,
    };
    let mut detail = match &outcome.exception {
        Some(e) if e.is_assertion() && e.message.is_empty() => {
            format!("AssertionError in:\n{}", e.traceback.trim_end())
        }
        Some(e) if e.message.is_empty() => e.kind.clone(),
        Some(e) => format!("{}: {}", e.kind, e.message),
        None => outcome.summary(),
    };
    if let Some(i) = case {
        detail = format!("Test case {}: {detail}", i + 1);
    }
    Verdict {
        class,
        detail: if class == VerdictClass::Passed {
            String::new()
        } else {
            detail
        },
        stdout: outcome.stdout.text(),
        stderr: outcome.stderr.text(),
        exit_code: outcome.exit_code,
        duration_ms: millis(outcome),
    }
}

/// Output equality up to trailing whitespace on each line and trailing blank lines.
pub fn same_output(got: &str, expected: &str) -> bool {
    normalized_lines(got) == normalized_lines(expected)
}

fn normalized_lines(s: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_comparison_ignores_trailing_space_only() {
        assert!(same_output("3 \n\n", "3"));
        assert!(same_output("a\r\nb\n", "a\nb"));
        assert!(!same_output("3\n4", "3"));
        assert!(!same_output(" 3", "3"));
    }

    #[test]
    fn no_code_is_journaled_as_syntax_without_code() {
        let s = VerdictClass::NoCode.record_status();
        assert_eq!(s, RecordStatus::Syntax);
        assert_eq!(VerdictClass::of_record(s, false), VerdictClass::NoCode);
        assert_eq!(VerdictClass::of_record(s, true), VerdictClass::Syntax);
    }
}
