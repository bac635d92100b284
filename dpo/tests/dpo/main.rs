//! Integration tests of the `dpo` crate: TRL parity of every loss, gradient and
//! metric (`trl_parity`), loss settings (`config`), and sequence log-probabilities
//! (`logps`), and SmolLM2-135M's summed completion log-probs against transformers
//! (`smollm2`; needs the GGUF in the artifact cache, `DISTILL_CACHE`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config;
mod fixture;
mod logps;
mod smollm2;
mod trl_parity;
