//! A job: the Python source to run, its stdin and argv, and its limits.

use crate::Limits;

/// One program to run in a fresh interpreter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Job {
    /// Python source code, run as the `__main__` module (file name `main.py`).
    pub code: String,
    /// Bytes the program reads from stdin. Default: empty (reads see end of file at once,
    /// so `input()` raises `EOFError` rather than blocking).
    pub stdin: Vec<u8>,
    /// Arguments after the program name (`sys.argv[1:]`). Default: none.
    pub argv: Vec<String>,
    /// Resource limits. Default: [`Limits::default`].
    pub limits: Limits,
}

impl Job {
    /// A job running `code` with no stdin, no arguments and default limits.
    pub fn new(code: impl Into<String>) -> Self {
        Job {
            code: code.into(),
            ..Job::default()
        }
    }

    /// Sets the bytes given on stdin.
    pub fn with_stdin(mut self, stdin: impl Into<Vec<u8>>) -> Self {
        self.stdin = stdin.into();
        self
    }

    /// Sets `sys.argv[1:]`.
    pub fn with_argv(mut self, argv: Vec<String>) -> Self {
        self.argv = argv;
        self
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
