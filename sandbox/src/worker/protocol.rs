//! The JSON-lines protocol between the sandbox and its worker processes. Output bytes
//! travel base64-encoded so binary output survives unchanged.

use crate::{Captured, Job, Limits, Outcome, PyException, Status};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One job sent to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireJob {
    code: String,
    stdin: String,
    argv: Vec<String>,
    timeout_ms: u64,
    memory_bytes: u64,
    output_bytes: usize,
}

impl WireJob {
    pub(crate) fn from_job(job: &Job) -> Self {
        WireJob {
            code: job.code.clone(),
            stdin: STANDARD.encode(&job.stdin),
            argv: job.argv.clone(),
            timeout_ms: u64::try_from(job.limits.timeout.as_millis()).unwrap_or(u64::MAX),
            memory_bytes: job.limits.memory_bytes,
            output_bytes: job.limits.output_bytes,
        }
    }

    pub(crate) fn into_job(self) -> Result<Job, String> {
        Ok(Job {
            code: self.code,
            stdin: STANDARD.decode(self.stdin).map_err(|e| e.to_string())?,
            argv: self.argv,
            limits: Limits {
                timeout: Duration::from_millis(self.timeout_ms),
                memory_bytes: self.memory_bytes,
                output_bytes: self.output_bytes,
            },
        })
    }
}

/// A worker's reply: the outcome, or why the worker could not run the job.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireReply {
    /// Sent once at start-up, when the worker has loaded the runtime.
    Ready,
    Outcome(WireOutcome),
    Failed(String),
}

/// An [`Outcome`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireOutcome {
    status: Status,
    exit_code: Option<i32>,
    exception: Option<PyException>,
    trap: Option<String>,
    stdout: String,
    stdout_truncated: bool,
    stderr: String,
    stderr_truncated: bool,
    duration_ns: u64,
}

impl WireOutcome {
    pub(crate) fn from_outcome(o: Outcome) -> Self {
        WireOutcome {
            status: o.status,
            exit_code: o.exit_code,
            exception: o.exception,
            trap: o.trap,
            stdout: STANDARD.encode(&o.stdout.bytes),
            stdout_truncated: o.stdout.truncated,
            stderr: STANDARD.encode(&o.stderr.bytes),
            stderr_truncated: o.stderr.truncated,
            duration_ns: u64::try_from(o.duration.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn into_outcome(self) -> Result<Outcome, String> {
        Ok(Outcome {
            status: self.status,
            exit_code: self.exit_code,
            exception: self.exception,
            trap: self.trap,
            stdout: Captured {
                bytes: STANDARD.decode(self.stdout).map_err(|e| e.to_string())?,
                truncated: self.stdout_truncated,
            },
            stderr: Captured {
                bytes: STANDARD.decode(self.stderr).map_err(|e| e.to_string())?,
                truncated: self.stderr_truncated,
            },
            duration: Duration::from_nanos(self.duration_ns),
        })
    }
}
