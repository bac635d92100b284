//! Integration tests of the `dpo` crate: TRL parity of every loss, gradient and
//! metric (`trl_parity`), loss settings (`config`), and sequence log-probabilities
//! (`logps`), and SmolLM2-135M's summed completion log-probs against transformers
//! (`smollm2`); preference data to tokenized pairs with bad pairs and format-token
//! masking (`pairs`); and the trainer: learning on SmolLM2 (`learning`), the
//! reference cache, a starting adapter and full fine-tuning on tiny random models with
//! SmolLM2's tokenizer (`reference_cache`), and exact resume (`resume`). The SmolLM2
//! tests need the GGUF in the artifact cache (`distill setup`, or `DISTILL_CACHE`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod config;
mod fixture;
mod learning;
mod logps;
mod pairs;
mod reference_cache;
mod resume;
mod smollm2;
mod trl_parity;
