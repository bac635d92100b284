//! Shared test state: one sandbox (two worker threads) for the whole binary.

use sandbox::{Job, Limits, Outcome, Sandbox, SandboxOptions};
use std::sync::OnceLock;
use std::time::Duration;

/// The shared sandbox; panics with the setup hint if the runtime is not installed.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        Sandbox::open(SandboxOptions {
            workers: Some(2),
            ..SandboxOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e} (tests need `cargo run --release -- setup`)"))
    })
}

/// Runs one job and unwraps the sandbox's own errors.
pub fn run(job: Job) -> Outcome {
    sandbox().run_blocking(job).expect("sandbox failure")
}

/// Runs `code` with default limits.
pub fn run_code(code: &str) -> Outcome {
    run(Job::new(code))
}

/// Limits with a short deadline, to keep timeout tests fast.
pub fn quick_limits(timeout_ms: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(timeout_ms),
        ..Limits::default()
    }
}
