//! [`ChatTemplate`]: one compiled chat template and its special tokens.

use std::collections::BTreeMap;

use minijinja::{Environment, Value};
use serde_json::Map;

use super::hf;
use crate::records::Message;

/// Why a chat template could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template does not compile (a bad template file).
    #[error("chat template does not compile: {0:#}")]
    Compile(minijinja::Error),
    /// Rendering failed, including a `raise_exception` from the template
    /// (for example a role order the model does not support).
    #[error("chat template failed to render: {0:#}")]
    Render(minijinja::Error),
    /// Rendering the conversation up to a message does not extend the
    /// rendering of the conversation before it, so turn boundaries cannot be
    /// found by prefixes (for example a template that injects a default
    /// system prompt only when the first message is not a system message).
    #[error(
        "chat template is not prefix-stable at message {index}: rendering messages[..={index}] does not start with the rendering of messages[..{index}]"
    )]
    NotPrefixStable {
        /// Index of the message whose rendering broke the prefix.
        index: usize,
    },
}

/// A compiled chat template in Hugging Face's Jinja environment: trim_blocks
/// and lstrip_blocks on, loop controls, Python string methods, and the
/// `raise_exception`, `tojson` and `strftime_now` extensions. Tools are not
/// supported (templates see `tools` as undefined).
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles `source`; `bos_token` and `eos_token` are the strings the
    /// template sees as `bos_token` / `eos_token`.
    pub fn new(
        source: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", hf::raise_exception);
        env.add_function("strftime_now", hf::strftime_now);
        env.add_filter("tojson", hf::tojson);
        env.add_template_owned(NAME, source.into())
            .map_err(TemplateError::Compile)?;
        Ok(Self {
            env,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// Renders `messages`, appending the assistant header when
    /// `add_generation_prompt` is set.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        self.render_with(messages, add_generation_prompt, &Map::new())
    }

    /// Like [`ChatTemplate::render`], with extra template variables (for
    /// example `date_string` for Llama 3.1, which otherwise uses its own
    /// default date).
    pub fn render_with(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        extra: &Map<String, serde_json::Value>,
    ) -> Result<String, TemplateError> {
        // Messages go in as minijinja values so maps keep their field order
        // (`role`, then `content`), as Python dicts do for `tojson`.
        let mut ctx: BTreeMap<String, Value> = extra
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_serialize(v)))
            .collect();
        ctx.insert("messages".into(), Value::from_serialize(messages));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        );
        ctx.insert("bos_token".into(), Value::from(self.bos_token.as_str()));
        ctx.insert("eos_token".into(), Value::from(self.eos_token.as_str()));
        let template = self.env.get_template(NAME).map_err(TemplateError::Render)?;
        template
            .render(Value::from(ctx))
            .map_err(TemplateError::Render)
    }
}
