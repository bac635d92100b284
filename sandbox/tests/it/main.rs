//! Integration tests of the sandbox crate, one binary. They need the runtime built by
//! `distill setup` (found through `DISTILL_CACHE` or `DISTILL_PYTHON_RUNTIME`, as in CI).

// Tests may panic on unexpected errors; the library may not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod artifacts;
mod concurrency;
mod harness;
mod isolation;
mod limits;
mod outcomes;
