//! How a job ended: one [`Status`] for every way a job can end, the captured output and
//! the Python exception, if any.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Every way a job can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The program ran to the end, or exited with code 0.
    Ok,
    /// An uncaught exception, or a non-zero exit code (`sys.exit(3)`, `os._exit(3)`).
    Error,
    /// The source does not compile.
    Syntax,
    /// The wall-clock deadline passed.
    Timeout,
    /// The program needed more memory than its limit.
    MemoryLimit,
    /// The program wrote more than its output limit on stdout or stderr.
    OutputLimit,
    /// Anything else the engine reported (for example a WebAssembly stack overflow).
    Trap,
}

impl Status {
    /// The lower-case name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Syntax => "syntax",
            Status::Timeout => "timeout",
            Status::MemoryLimit => "memory_limit",
            Status::OutputLimit => "output_limit",
            Status::Trap => "trap",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Python exception that ended the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PyException {
    /// The exception class name, e.g. `AssertionError`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `str(exception)`; empty for a bare `assert`.
    pub message: String,
    /// The last lines of the formatted traceback, starting in the job's own code.
    pub traceback: String,
}

impl PyException {
    /// Whether this is a failed `assert` (the usual way a test fails).
    pub fn is_assertion(&self) -> bool {
        self.kind == "AssertionError"
    }
}

/// Captured bytes of one output stream, cut at the job's output limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The bytes written, at most the output limit.
    pub bytes: Vec<u8>,
    /// Whether the program wrote more than was kept.
    pub truncated: bool,
}

impl Captured {
    /// The text (invalid UTF-8 replaced by U+FFFD), with a visible marker at the end
    /// when the stream was truncated.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.truncated {
            text.push_str(&format!(
                "\n[distill: output truncated after {} bytes]\n",
                self.bytes.len()
            ));
        }
        text
    }
}

/// The result of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How the job ended.
    pub status: Status,
    /// Exit code of the program: 0 for `Ok`, 1 for an uncaught exception or a syntax
    /// error, the given code for `sys.exit(n)`; `None` when the engine stopped it
    /// (timeout, memory, output limit, trap).
    pub exit_code: Option<i32>,
    /// The uncaught exception, for `Error` (when one was raised), `Syntax`, and
    /// `MemoryLimit` when Python raised `MemoryError`.
    pub exception: Option<PyException>,
    /// What the engine reported, for `Trap` (and the limit hit, for the other limits).
    pub trap: Option<String>,
    /// Captured stdout.
    pub stdout: Captured,
    /// Captured stderr.
    pub stderr: Captured,
    /// Wall time from instantiation to the end of the job.
    pub duration: Duration,
}

impl Outcome {
    /// Whether the job passed (status `Ok`).
    pub fn passed(&self) -> bool {
        self.status == Status::Ok
    }

    /// Whether the job failed on an `assert`.
    pub fn is_assertion_error(&self) -> bool {
        self.exception
            .as_ref()
            .is_some_and(PyException::is_assertion)
    }

    /// A one-line summary, e.g. `error: AssertionError: expected 3`.
    pub fn summary(&self) -> String {
        match (&self.exception, &self.trap) {
            (Some(e), _) if e.message.is_empty() => format!("{}: {}", self.status, e.kind),
            (Some(e), _) => format!("{}: {}: {}", self.status, e.kind, e.message),
            (None, Some(t)) => format!("{}: {t}", self.status),
            (None, None) => match self.exit_code {
                Some(code) if code != 0 => format!("{} (exit code {code})", self.status),
                _ => self.status.to_string(),
            },
        }
    }

    /// The record written to JSON (`distill sandbox run --json`, attempt journals):
    /// `{status, exit_code, exception, trap, stdout, stderr, stdout_truncated,
    /// stderr_truncated, duration_ms}`.
    pub fn to_record(&self) -> OutcomeRecord {
        OutcomeRecord {
            status: self.status,
            exit_code: self.exit_code,
            exception: self.exception.clone(),
            trap: self.trap.clone(),
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
            stdout_truncated: self.stdout.truncated,
            stderr_truncated: self.stderr.truncated,
            duration_ms: self.duration.as_secs_f64() * 1e3,
        }
    }
}

/// The serialized form of an [`Outcome`] (output as text, with truncation markers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// How the job ended.
    pub status: Status,
    /// See [`Outcome::exit_code`].
    pub exit_code: Option<i32>,
    /// See [`Outcome::exception`].
    pub exception: Option<PyException>,
    /// See [`Outcome::trap`].
    pub trap: Option<String>,
    /// Captured stdout as text.
    pub stdout: String,
    /// Captured stderr as text.
    pub stderr: String,
    /// Whether stdout was cut at the limit.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the limit.
    pub stderr_truncated: bool,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
}
