//! Workspace integration tests: the real `distill` binary end to end, one test binary.
//! They need `distill setup` to have run (CI does it first; see `.ci/run`).

mod harness;
mod humaneval;
mod process_workers;
mod sandbox_cli;
mod setup;
