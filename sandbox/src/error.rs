//! Typed errors of the sandbox crate. A job's own failure is never an error: it is an
//! [`crate::Outcome`]. Errors here mean the sandbox itself could not run.

use std::path::PathBuf;

/// Why the sandbox (not the job) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// No runtime is available: setup has not run, or the override path is wrong.
    #[error("the Python runtime is not installed ({reason}); run `distill setup` first")]
    RuntimeMissing {
        /// What was looked for.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// wasmtime rejected the engine settings, the component or an instantiation.
    #[error("wasmtime: {0}")]
    Engine(String),
    /// The guest harness broke its protocol (a bug in distill, or a tampered runtime).
    #[error("sandbox harness protocol error: {0}")]
    Protocol(String),
    /// The executor shut down before the job finished.
    #[error("the sandbox executor stopped before the job finished")]
    ExecutorStopped,
    /// Provisioning an artifact failed.
    #[error(transparent)]
    Artifact(#[from] crate::artifacts::ArtifactError),
}

impl SandboxError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SandboxError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn engine(err: impl std::fmt::Display) -> Self {
        SandboxError::Engine(format!("{err:#}"))
    }
}
