//! The model configuration, mirroring Hugging Face's `config.json` for
//! `LlamaForCausalLM` and `Qwen2ForCausalLM`.

use crate::error::{Result, SftError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which decoder family a checkpoint belongs to. The two differ only in the
/// biases of the q/k/v projections here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `LlamaForCausalLM`: Llama 2/3.x, SmolLM/SmolLM2, TinyLlama.
    Llama,
    /// `Qwen2ForCausalLM`: q/k/v projections carry a bias.
    Qwen2,
}

/// RoPE frequency scaling (`rope_scaling` in `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// `"llama3"`, `"linear"` or `"default"`; other kinds are rejected by
    /// [`Config::validate`].
    #[serde(alias = "type")]
    pub rope_type: String,
    /// The scaling factor. Default 1.
    #[serde(default = "one")]
    pub factor: f64,
    /// Llama 3 only: low frequency factor. Default 1.
    #[serde(default = "one")]
    pub low_freq_factor: f64,
    /// Llama 3 only: high frequency factor. Default 4.
    #[serde(default = "four")]
    pub high_freq_factor: f64,
    /// Llama 3 only: the context length the model was pre-trained at. Default 8192.
    #[serde(default = "default_original_ctx")]
    pub original_max_position_embeddings: usize,
}

fn one() -> f64 {
    1.0
}
fn four() -> f64 {
    4.0
}
fn default_original_ctx() -> usize {
    8192
}
fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_eps() -> f64 {
    1e-6
}
fn default_act() -> String {
    "silu".to_string()
}
fn default_max_pos() -> usize {
    2048
}

/// A decoder-only model's configuration, field for field as in Hugging Face's
/// `config.json`. Unknown keys are kept in [`Config::extra`] so a saved config
/// round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// e.g. `["LlamaForCausalLM"]`. Default empty (then `model_type` decides).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// `"llama"` or `"qwen2"`. Required.
    pub model_type: String,
    /// Vocabulary size. Required.
    pub vocab_size: usize,
    /// Width of the residual stream. Required.
    pub hidden_size: usize,
    /// Width of the MLP. Required.
    pub intermediate_size: usize,
    /// Number of decoder layers. Required.
    pub num_hidden_layers: usize,
    /// Number of query heads. Required.
    pub num_attention_heads: usize,
    /// Number of key/value heads (GQA). Default: `num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width. Default: `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// MLP activation; only `"silu"` is supported. Default `"silu"`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Longest context the model was trained for. Default 2048.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon. Default 1e-6.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base. Default 10000.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// RoPE scaling. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<RopeScaling>,
    /// Whether `lm_head` shares `embed_tokens`' weight. Default false.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Llama only: whether q/k/v/o carry a bias. Default false (Qwen2 always has
    /// q/k/v biases).
    #[serde(default)]
    pub attention_bias: bool,
    /// Whether the MLP projections carry a bias. Default false.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Every other key of `config.json`, kept verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Config {
    /// Reads and validates a `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| SftError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg: Config = serde_json::from_str(&text).map_err(|e| SftError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        cfg.normalize().map_err(|message| SftError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Folds transformers 5's `rope_parameters` object (which replaces `rope_theta`
    /// and `rope_scaling` in configs it writes) into the fields above.
    pub fn normalize(&mut self) -> std::result::Result<(), String> {
        let Some(rp) = self.extra.remove("rope_parameters") else {
            return Ok(());
        };
        if rp.is_null() {
            return Ok(());
        }
        if let Some(theta) = rp.get("rope_theta").and_then(|v| v.as_f64()) {
            self.rope_theta = theta;
        }
        let kind = rp
            .get("rope_type")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        if kind != "default" {
            let s: RopeScaling =
                serde_json::from_value(rp.clone()).map_err(|e| format!("rope_parameters: {e}"))?;
            self.rope_scaling = Some(s);
        }
        Ok(())
    }

    /// The model family; an unknown architecture is an error.
    pub fn family(&self) -> Result<Family> {
        let arch = self.architectures.first().map(String::as_str);
        match (arch, self.model_type.as_str()) {
            (Some("LlamaForCausalLM") | None, "llama") => Ok(Family::Llama),
            (Some("Qwen2ForCausalLM") | None, "qwen2") => Ok(Family::Qwen2),
            (Some(a), _) => Err(SftError::UnsupportedArchitecture(a.to_string())),
            (None, t) => Err(SftError::UnsupportedArchitecture(t.to_string())),
        }
    }

    /// Number of key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether the q/k/v projections carry a bias.
    pub fn qkv_bias(&self) -> bool {
        self.attention_bias || matches!(self.family(), Ok(Family::Qwen2))
    }

    /// Whether the output projection carries a bias.
    pub fn o_bias(&self) -> bool {
        self.attention_bias && matches!(self.family(), Ok(Family::Llama))
    }

    /// Checks that the values describe a model this crate can build.
    pub fn validate(&self) -> Result<()> {
        self.family()?;
        let bad = |m: String| Err(SftError::InvalidConfig(m));
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "head_dim {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if self.hidden_act != "silu" {
            return bad(format!("hidden_act `{}` is not supported", self.hidden_act));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return bad(format!(
                "rms_norm_eps {} must be positive",
                self.rms_norm_eps
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return bad(format!("rope_theta {} must be positive", self.rope_theta));
        }
        if let Some(s) = &self.rope_scaling {
            match s.rope_type.as_str() {
                "default" | "linear" | "llama3" => {}
                other => return bad(format!("rope_scaling type `{other}` is not supported")),
            }
            if !(s.factor.is_finite() && s.factor > 0.0) {
                return bad(format!("rope_scaling.factor {} must be positive", s.factor));
            }
            if s.rope_type == "llama3" && s.high_freq_factor <= s.low_freq_factor {
                return bad("rope_scaling: high_freq_factor must exceed low_freq_factor".into());
            }
        }
        Ok(())
    }
}
