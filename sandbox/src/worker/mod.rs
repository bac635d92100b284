//! Worker processes: the sandbox can run its jobs in N single-threaded child processes
//! instead of N threads of the calling process.
//!
//! Why: a fresh instance writes to copy-on-write pages of the runtime's memory image.
//! With several threads in one address space every such fault flushes the TLB of the
//! other cores (an inter-processor interrupt, costly in a VM); measured here, two threads
//! ran *slower* than one, while two processes ran twice as fast (see `sandbox/README.md`).
//!
//! The child is any command that ends in [`serve_stdio`] (the CLI's hidden
//! `distill sandbox worker`). Requests and replies are JSON lines on its stdin/stdout.

mod pool;
mod protocol;
mod serve;

pub(crate) use pool::{ProcessPool, Request};
pub use serve::serve_stdio;
