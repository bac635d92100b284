//! The native baseline: the same programs run by the real CPython binary as isolated
//! subprocesses (`python3 -I -S -c CODE`). Used by benchmarks and for cross-checking
//! verdicts; it is not a sandbox.

use crate::SandboxError;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wait_timeout::ChildExt;

/// How a native run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeOutcome {
    /// Exit code; `None` if killed at the deadline.
    pub exit_code: Option<i32>,
    /// Whether the deadline passed.
    pub timed_out: bool,
    /// Wall time.
    pub duration: Duration,
}

impl NativeOutcome {
    /// Exit code 0 within the deadline.
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// Resolves the real interpreter binary behind `python` (version managers put shell
/// shims first on `PATH`, which would double the per-run cost).
pub fn resolve_python(python: &str) -> Result<PathBuf, SandboxError> {
    let output = Command::new(python)
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SandboxError::io(python, e))?;
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || path.is_empty() {
        return Err(SandboxError::Engine(format!(
            "{python} did not report its executable"
        )));
    }
    Ok(PathBuf::from(path))
}

/// Runs `code` with `python -I -S -c`, killing it at `timeout`.
pub fn run_native(
    python: &Path,
    code: &str,
    timeout: Duration,
) -> Result<NativeOutcome, SandboxError> {
    let start = Instant::now();
    let mut child = Command::new(python)
        .args(["-I", "-S", "-c", code])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SandboxError::io(python, e))?;
    let status = child
        .wait_timeout(timeout)
        .map_err(|e| SandboxError::io(python, e))?;
    let (exit_code, timed_out) = match status {
        Some(status) => (status.code(), false),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            (None, true)
        }
    };
    // Drain stderr so the child never blocks on a full pipe before exiting.
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_end(&mut Vec::new());
    }
    Ok(NativeOutcome {
        exit_code,
        timed_out,
        duration: start.elapsed(),
    })
}
