//! Typed errors of evaluation, split by who is at fault: the user's input (unknown
//! bench, a path that is not a model, settings), the run directory, the teacher, or
//! the sandbox.

use crate::{SynthError, TeacherError};
use std::path::PathBuf;

/// Why an evaluation (or a comparison of two) stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The benchmark name is not one this version knows.
    #[error("unknown benchmark `{name}`; known benchmarks: {known}")]
    UnknownBench {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// The benchmark data is not installed (run `distill setup`).
    #[error("benchmark `{bench}` data is not available: {reason} (run `distill setup`)")]
    BenchMissing {
        /// The benchmark.
        bench: String,
        /// What the artifact store said.
        reason: String,
    },
    /// `--model` names a path that does not exist or is not a model.
    #[error("{}: not a model: {reason}", path.display())]
    NotAModel {
        /// The path given.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// The teacher failed in a way no retry can fix (bad key, unreachable, bad model).
    #[error(transparent)]
    Teacher(#[from] TeacherError),
    /// The sandbox itself could not run a job (not the job's own failure).
    #[error("sandbox: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
    /// A benchmark or results file could not be read.
    #[error(transparent)]
    Read(#[from] datasets::ReadError),
    /// A results file could not be written.
    #[error(transparent)]
    Write(#[from] datasets::WriteError),
    /// A run-directory helper shared with synth failed.
    #[error(transparent)]
    Run(#[from] SynthError),
    /// A file of the eval directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file of the eval directory holds something this version cannot use.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The eval directory was made with different result-changing settings.
    #[error(
        "{} holds an eval made with different settings (fingerprint {found}, now \
         {expected}: another model, bench, sampling or limit); use another --out \
         directory or pass --force",
        dir.display()
    )]
    ConfigMismatch {
        /// The eval directory.
        dir: PathBuf,
        /// The fingerprint stored there.
        found: String,
        /// The fingerprint of the current settings.
        expected: String,
    },
    /// Two runs given to compare do not cover the same problems.
    #[error(
        "the runs cover different problems: {only_a} only in {}, {only_b} only in {} \
         (e.g. `{example}`); compare finished runs of the same benchmark and --limit",
        a.display(),
        b.display()
    )]
    ProblemSetsDiffer {
        /// The first run directory.
        a: PathBuf,
        /// The second run directory.
        b: PathBuf,
        /// Problems only the first has.
        only_a: usize,
        /// Problems only the second has.
        only_b: usize,
        /// One problem id in only one of them.
        example: String,
    },
    /// Settings that cannot work (zero samples, k above n, an empty problem list).
    #[error("invalid settings: {0}")]
    Settings(String),
    /// A bug in the evaluator (a worker panicked, a lock was poisoned).
    #[error("internal error in distill-synth eval (please report): {0}")]
    Internal(String),
}

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            source,
        }
    }
}
