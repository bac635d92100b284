//! Chat templates: rendering a model's Jinja chat template (from
//! `tokenizer_config.json` or GGUF `tokenizer.chat_template`) with minijinja
//! plus the Hugging Face extensions templates rely on, so the output equals
//! `transformers`' `apply_chat_template(tokenize=False)`; and the character
//! spans of assistant turns and assistant-only loss masks, both found by
//! rendering prefixes.

mod hf;
mod mask;
mod spans;
mod template;

pub use hf::{python_json, strftime};
pub use mask::{MaskError, MaskOptions, show_mask};
pub use template::{ChatTemplate, TemplateError};
