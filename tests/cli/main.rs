//! Workspace integration tests: the real `distill` binary end to end, one test binary.
//! They need `distill setup` to have run (CI does it first; see `.ci/run`).

// Tests may panic on unexpected errors; the library may not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod data_cli;
mod demo_cli;
mod dpo_cli;
mod eval_cli;
mod harness;
mod humaneval;
mod kd_cli;
mod process_workers;
mod sandbox_cli;
mod setup;
mod sft_cli;
mod synth_cli;
mod synth_pairs_cli;
