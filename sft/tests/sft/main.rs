//! Integration tests of the `sft` crate: one binary, shared fixtures in `common`.

// A failed expectation in a test is a test failure: panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[cfg(feature = "cuda")]
mod cuda;
mod finetune;
mod generate;
mod gradients;
mod hf_files;
mod inputs;
mod lora;
mod memorize;
mod model_configs;
mod optim;
mod packing_datasets;
mod parity;
mod prepare;
mod qwen2_gguf;
mod resume;
mod synth_data;
