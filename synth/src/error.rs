//! Typed errors of the synth crate, split by who is at fault: the teacher service
//! ([`TeacherError`]), the user's input or run directory, or the sandbox.

use std::path::PathBuf;

/// Why a teacher call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TeacherError {
    /// The server rejected the credentials (HTTP 401/403). Never retried.
    #[error(
        "the teacher rejected the API key (HTTP {status}): check the key in ${key_env}; {body}"
    )]
    Auth {
        /// HTTP status (401 or 403).
        status: u16,
        /// The environment variable the key was read from.
        key_env: String,
        /// The start of the server's answer.
        body: String,
    },
    /// The request itself is wrong (HTTP 400/404/422: unknown model, bad parameter).
    /// Never retried.
    #[error("the teacher refused the request (HTTP {status}): {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The start of the server's answer.
        body: String,
    },
    /// No connection could be made to the server, even after retries.
    #[error("cannot reach the teacher at {url}: {reason}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// What the client reported.
        reason: String,
    },
    /// Transient failures (429, 5xx, timeouts, malformed bodies) outlasted the retries.
    #[error("the teacher failed {attempts} times in a row; last: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The client could not be built (bad URL, bad TLS settings).
    #[error("teacher client setup: {0}")]
    Setup(String),
}

impl TeacherError {
    /// Whether no later call can succeed either, so the whole run should stop.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            TeacherError::Auth { .. }
                | TeacherError::Rejected { .. }
                | TeacherError::Unreachable { .. }
                | TeacherError::Setup(_)
        )
    }
}

/// Why a synth run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// The teacher failed in a way no retry can fix (bad key, unreachable, bad model).
    #[error(transparent)]
    Teacher(#[from] TeacherError),
    /// The sandbox itself could not run a job (not the job's own failure).
    #[error("sandbox: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
    /// The problems file could not be read.
    #[error(transparent)]
    Read(#[from] datasets::ReadError),
    /// An output file could not be written.
    #[error(transparent)]
    Write(#[from] datasets::WriteError),
    /// A file of the run directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file of the run directory holds something this version cannot use.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The run directory was made with different result-changing settings.
    #[error(
        "{} was made with different settings (fingerprint {found}, now {expected}); \
         use another directory or force the resume",
        dir.display()
    )]
    ConfigMismatch {
        /// The run directory.
        dir: PathBuf,
        /// The fingerprint stored there.
        found: String,
        /// The fingerprint of the current settings.
        expected: String,
    },
    /// Settings that cannot work (zero samples, empty model name).
    #[error("invalid settings: {0}")]
    Settings(String),
    /// A bug in distill-synth (a worker panicked, a lock was poisoned).
    #[error("internal error in distill-synth (please report): {0}")]
    Internal(String),
}

impl SynthError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SynthError::Io {
            path: path.into(),
            source,
        }
    }
}
