//! Per-job resource limits. Every limit is on by default; the defaults are documented on
//! each field and chosen to be generous for unit-test-sized programs.

use std::time::Duration;

/// Resource limits applied to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline for the whole job, enforced by epoch interruption, so it also
    /// stops code that never returns to the interpreter loop. Default: 10 s.
    pub timeout: Duration,
    /// Maximum linear memory of the interpreter, in bytes. A larger allocation makes
    /// Python raise `MemoryError`. Default: 512 MiB.
    pub memory_bytes: u64,
    /// Maximum bytes kept from each of stdout and stderr; writing past it ends the job
    /// with [`crate::Status::OutputLimit`]. Default: 1 MiB per stream.
    pub output_bytes: usize,
}

impl Limits {
    /// Default wall-clock deadline.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default memory cap.
    pub const DEFAULT_MEMORY_BYTES: u64 = 512 * 1024 * 1024;
    /// Default output cap per stream.
    pub const DEFAULT_OUTPUT_BYTES: usize = 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Self::DEFAULT_TIMEOUT,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            output_bytes: Self::DEFAULT_OUTPUT_BYTES,
        }
    }
}
