//! Chat templates: rendering a model's Jinja chat template (from
//! `tokenizer_config.json` or GGUF `tokenizer.chat_template`) with minijinja
//! plus the Hugging Face extensions templates rely on, so the output equals
//! `transformers`' `apply_chat_template(tokenize=False)`; and the character
//! spans of assistant turns, found by rendering prefixes (the basis of
//! assistant-only loss masks).

mod hf;
mod spans;
mod template;

pub use hf::{python_json, strftime};
pub use template::{ChatTemplate, TemplateError};
