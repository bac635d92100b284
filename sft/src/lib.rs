//! The trainable student model and supervised fine-tuning.
//!
//! - [`model::CausalLm`]: Llama-family decoder (Llama 2/3.x with RoPE scaling, SmolLM2,
//!   TinyLlama, Qwen2 with q/k/v biases; GQA; tied embeddings) built only from ops with
//!   a backward pass ([`ops`], [`rope`]); training forward with causal, padding and
//!   packed block-diagonal masks ([`mask`]). Loads Hugging Face directories
//!   ([`weights`]) and llama/qwen2 GGUF files ([`gguf`]).
//!   Frozen weights multiply through [`frozen_matmul`], whose backward skips the
//!   weight's gradient.
//! - [`lora`], [`peft`]: adapters with PEFT's key names and files; merging.
//! - [`loss`], [`optim`], [`schedule`], [`clip`]: masked cross-entropy, AdamW with
//!   saveable state, warmup + cosine/linear, global-norm clipping.
//! - [`train`], [`objective`], [`checkpoint`], [`data`]: the loop (its loss per micro-batch
//!   an [`objective::Objective`]) with accumulation, eval, metrics
//!   and checkpoints that resume exactly.
//! - [`prepare`], [`finetune`], [`plot`], [`bar_chart`]: SFT records to examples with
//!   the model's chat template, a whole run from one settings struct, metrics curves
//!   and bar charts as PNG.
//!
//! [`atomic_file`] writes files whole or not at all (temporary name + rename).
//! [`bench`] times the training step for `distill bench train`.
//!
//! Parity with PyTorch is pinned by fixtures under `sft/fixtures/`, written by the
//! Python scripts there (never run in CI).

pub mod atomic_file;
pub mod attention;
pub mod bar_chart;
pub mod bench;
#[cfg(test)]
mod candle_patch_tests;
pub mod checkpoint;
pub mod clip;
pub mod config;
pub mod data;
pub mod error;
pub mod finetune;
pub mod frozen_matmul;
pub mod fused;
pub mod generate;
pub mod gguf;
pub mod kd;
pub mod linear;
pub mod lora;
pub mod loss;
pub mod mask;
pub mod mlp;
pub mod model;
pub mod objective;
pub mod ops;
pub mod optim;
pub mod peft;
pub mod plot;
pub mod prepare;
pub mod recompute;
pub mod rng;
pub mod rope;
pub mod schedule;
pub mod start_eval;
pub mod train;
pub mod weights;

pub use config::{Config, Family, RopeScaling};
pub use data::Example;
pub use error::{Result, SftError};
pub use finetune::{FinetuneConfig, FinetuneSummary, Progress, finetune};
pub use linear::ForwardCtx;
pub use lora::{LoraConfig, LoraTarget};
pub use model::{CausalLm, TrainMode};
pub use optim::{AdamW, AdamWConfig};
pub use schedule::{Decay, Schedule};
pub use train::{StepMetrics, TrainConfig, Trainer};
