//! Run untrusted Python in WebAssembly: CPython for WASI executed by wasmtime, a fresh
//! interpreter instance per job, hard limits on time, memory and output, and no access
//! to files, environment, network or processes.
//!
//! ```no_run
//! use sandbox::{Job, Sandbox};
//! let sandbox = Sandbox::open_default()?;
//! let outcome = sandbox.run_blocking(Job::new("assert 1 + 1 == 2"))?;
//! assert!(outcome.passed());
//! # Ok::<(), sandbox::SandboxError>(())
//! ```
//!
//! The runtime is built once by [`runtime::provision`] (what `distill setup` runs) and
//! compiled once per machine; see `sandbox/README.md` for the design and its numbers.

pub mod artifacts;
pub mod bench;
mod compiled;
mod engine;
mod error;
mod job;
mod limits;
pub mod native;
mod outcome;
mod output;
mod runner;
pub mod runtime;
mod sandbox;
pub mod worker;

pub use error::SandboxError;
pub use job::Job;
pub use limits::Limits;
pub use outcome::{Captured, Outcome, OutcomeRecord, PyException, Status};
pub use runtime::RuntimeComponent;
pub use sandbox::{Sandbox, SandboxOptions, Workers};
