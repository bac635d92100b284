//! Integration tests of distill-synth: a scripted OpenAI-compatible server on
//! 127.0.0.1 started by each test, the real sandbox (the runtime `distill setup`
//! installed), and run directories in temporary folders.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod bench;
mod bundled;
mod check;
mod crash;
mod eval;
mod extra_body;
mod harness;
mod local_teacher;
mod pipeline;
mod problem_gen;
mod resume;
mod server;
