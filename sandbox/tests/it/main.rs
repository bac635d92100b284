//! Integration tests of the sandbox crate, one binary. They need the runtime built by
//! `distill setup` (found through `DISTILL_CACHE` or `DISTILL_PYTHON_RUNTIME`, as in CI).

mod artifacts;
mod concurrency;
mod harness;
mod isolation;
mod limits;
mod outcomes;
