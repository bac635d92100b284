//! Generation for evaluation, the local teacher and chat: an inference-only decoder
//! with a per-sequence KV cache ([`InferenceModel`], [`KvCache`]), quantized GGUF or
//! f32 weights, greedy and temperature/top-p sampling ([`Sampler`]), stop strings and
//! end-of-sequence ids, and a chat entry point on the model's own template
//! ([`Generator`]). [`load`] turns a `.gguf` file or a Hugging Face directory into a
//! ready generator; [`on_one_thread`] runs one of several concurrent generations on
//! a core of its own.
//!
//! ```no_run
//! use datasets::records::{Message, Role};
//! use sft::generate::{GenerateParams, load};
//! let g = sft::generate::load(std::path::Path::new("model.gguf"))?;
//! let out = g.chat(&[Message::new(Role::User, "Hi")], &GenerateParams::default())?;
//! println!("{} ({:?})", out.text, out.finish_reason);
//! # Ok::<(), sft::SftError>(())
//! ```

mod cache;
mod generator;
mod loader;
mod model;
mod one_thread;
mod sampling;
mod weights;

pub use cache::KvCache;
pub use generator::{END_TOKENS, FinishReason, GenerateParams, Generation, Generator};
pub use loader::{LoadOptions, load, load_on, load_with};
pub use model::{InferenceModel, RopeLayout};
pub use one_thread::on_one_thread;
pub use sampling::{Sampler, SamplingConfig, argmax};
