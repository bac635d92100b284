//! The trainable Llama-family decoder (Llama 2/3.x, SmolLM2, TinyLlama, Qwen2).
//! The struct tree mirrors the checkpoint's keys (`model.layers.{i}.self_attn.q_proj.weight`).

use crate::attention::Attention;
use crate::config::Config;
use crate::error::{Result, SftError};
use crate::linear::{ForwardCtx, Linear};
use crate::lora::{LoraAdapter, LoraConfig, LoraTarget};
use crate::mask;
use crate::mlp::Mlp;
use crate::ops::rms_norm;
use crate::rng::Rng;
use crate::rope::Rope;
use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;

/// Which parameters train.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainMode {
    /// Nothing trains (evaluation, reference model).
    Frozen,
    /// Every base weight trains.
    Full,
    /// Base weights are frozen; LoRA adapters train.
    Lora(LoraConfig),
}

/// One decoder layer.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `input_layernorm.weight`: `(hidden,)`.
    pub input_layernorm: Tensor,
    /// `self_attn`.
    pub self_attn: Attention,
    /// `post_attention_layernorm.weight`: `(hidden,)`.
    pub post_attention_layernorm: Tensor,
    /// `mlp`.
    pub mlp: Mlp,
}

/// A causal language model with its trainable parameters.
#[derive(Debug, Clone)]
pub struct CausalLm {
    /// The configuration.
    pub config: Config,
    /// `model.embed_tokens.weight`: `(vocab, hidden)`.
    pub embed_tokens: Tensor,
    /// `model.layers`.
    pub layers: Vec<Layer>,
    /// `model.norm.weight`: `(hidden,)`.
    pub norm: Tensor,
    /// `lm_head.weight` `(vocab, hidden)`; `None` when tied to `embed_tokens`.
    pub lm_head: Option<Tensor>,
    rope: Rope,
    trainable: Vec<(String, Var)>,
    device: Device,
}

/// Takes base weights out of a name → tensor map, checking shapes, and records which
/// become trainable.
struct Builder<'a> {
    weights: &'a HashMap<String, Tensor>,
    full: bool,
    trainable: Vec<(String, Var)>,
    device: Device,
}

impl Builder<'_> {
    fn get(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self
            .weights
            .get(name)
            .ok_or_else(|| SftError::MissingTensor(name.to_string()))?;
        if t.dims() != shape {
            return Err(SftError::TensorShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                actual: t.dims().to_vec(),
            });
        }
        let t = t.to_device(&self.device)?.to_dtype(DType::F32)?;
        if self.full {
            let v = Var::from_tensor(&t)?;
            let t = v.as_tensor().clone();
            self.trainable.push((name.to_string(), v));
            Ok(t)
        } else {
            Ok(t.detach())
        }
    }

    fn linear(
        &mut self,
        prefix: &str,
        out_dim: usize,
        in_dim: usize,
        bias: bool,
    ) -> Result<Linear> {
        let weight = self.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?;
        let bias = if bias {
            Some(self.get(&format!("{prefix}.bias"), &[out_dim])?)
        } else {
            None
        };
        Ok(Linear {
            weight,
            bias,
            lora: None,
        })
    }
}

impl CausalLm {
    /// Builds the model from HF-named weights. Shapes are checked against `config`.
    pub fn from_weights(
        config: Config,
        weights: &HashMap<String, Tensor>,
        mode: &TrainMode,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let cfg = &config;
        let mut b = Builder {
            weights,
            full: matches!(mode, TrainMode::Full),
            trainable: Vec::new(),
            device: device.clone(),
        };
        let (h, hd, nh, nkv, im) = (
            cfg.hidden_size,
            cfg.head_dim(),
            cfg.num_attention_heads,
            cfg.kv_heads(),
            cfg.intermediate_size,
        );
        let embed_tokens = b.get("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let qkv_bias = cfg.qkv_bias();
            layers.push(Layer {
                input_layernorm: b.get(&format!("{p}.input_layernorm.weight"), &[h])?,
                self_attn: Attention {
                    q_proj: b.linear(&format!("{p}.self_attn.q_proj"), nh * hd, h, qkv_bias)?,
                    k_proj: b.linear(&format!("{p}.self_attn.k_proj"), nkv * hd, h, qkv_bias)?,
                    v_proj: b.linear(&format!("{p}.self_attn.v_proj"), nkv * hd, h, qkv_bias)?,
                    o_proj: b.linear(&format!("{p}.self_attn.o_proj"), h, nh * hd, cfg.o_bias())?,
                    heads: nh,
                    kv_heads: nkv,
                    head_dim: hd,
                },
                post_attention_layernorm: b
                    .get(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
                mlp: Mlp {
                    gate_proj: b.linear(&format!("{p}.mlp.gate_proj"), im, h, cfg.mlp_bias)?,
                    up_proj: b.linear(&format!("{p}.mlp.up_proj"), im, h, cfg.mlp_bias)?,
                    down_proj: b.linear(&format!("{p}.mlp.down_proj"), h, im, cfg.mlp_bias)?,
                },
            });
        }
        let norm = b.get("model.norm.weight", &[h])?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(b.get("lm_head.weight", &[cfg.vocab_size, h])?)
        };
        let mut model = CausalLm {
            rope: Rope::new(cfg, device)?,
            config,
            embed_tokens,
            layers,
            norm,
            lm_head,
            trainable: b.trainable,
            device: device.clone(),
        };
        if let TrainMode::Lora(lc) = mode {
            model.add_lora(lc)?;
        }
        Ok(model)
    }

    /// A randomly initialized model (normal, std 0.02; norms 1), for tests and
    /// experiments. All weights train when `mode` is [`TrainMode::Full`].
    pub fn random(config: Config, seed: u64, mode: &TrainMode, device: &Device) -> Result<Self> {
        config.validate()?;
        let mut rng = Rng::new(seed);
        let shapes = parameter_shapes(&config);
        let mut weights = HashMap::new();
        for (name, shape) in shapes {
            let n: usize = shape.iter().product();
            let data = if shape.len() == 1 && !name.ends_with(".bias") {
                vec![1.0f32; n]
            } else {
                rng.normal_vec(n, 0.02)
            };
            weights.insert(name, Tensor::from_vec(data, shape, device)?);
        }
        Self::from_weights(config, &weights, mode, device)
    }

    /// Attaches fresh LoRA adapters to the configured projections of every layer.
    pub fn add_lora(&mut self, lc: &LoraConfig) -> Result<()> {
        lc.validate()?;
        let mut rng = Rng::new(lc.seed);
        let device = self.device.clone();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            for &t in &lc.targets {
                let (lin, group) = layer.projection_mut(t);
                let (out_dim, in_dim) = lin.weight.dims2()?;
                let ad = LoraAdapter::new(out_dim, in_dim, lc, &mut rng, &device)?;
                let p = format!("model.layers.{i}.{group}.{}", t.name());
                self.trainable
                    .push((format!("{p}.lora_A.weight"), ad.a.clone()));
                self.trainable
                    .push((format!("{p}.lora_B.weight"), ad.b.clone()));
                lin.lora = Some(ad);
            }
        }
        Ok(())
    }

    /// Folds every LoRA adapter into its base weight; afterwards nothing trains.
    pub fn merge_lora(&mut self) -> Result<()> {
        for layer in &mut self.layers {
            for t in LoraTarget::ALL {
                layer.projection_mut(t).0.merge()?;
            }
        }
        self.trainable.retain(|(n, _)| !n.contains(".lora_"));
        Ok(())
    }

    /// The trainable parameters with their checkpoint names (HF names for full
    /// fine-tuning, `...q_proj.lora_A.weight` for adapters, without PEFT's
    /// `base_model.model.` prefix).
    pub fn trainable(&self) -> &[(String, Var)] {
        &self.trainable
    }

    /// Every base weight by HF name (tied `lm_head` omitted), for saving.
    pub fn named_weights(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            self.embed_tokens.clone(),
        )];
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.push((
                format!("{p}.input_layernorm.weight"),
                l.input_layernorm.clone(),
            ));
            out.push((
                format!("{p}.post_attention_layernorm.weight"),
                l.post_attention_layernorm.clone(),
            ));
            for (group, lin, name) in [
                ("self_attn", &l.self_attn.q_proj, "q_proj"),
                ("self_attn", &l.self_attn.k_proj, "k_proj"),
                ("self_attn", &l.self_attn.v_proj, "v_proj"),
                ("self_attn", &l.self_attn.o_proj, "o_proj"),
                ("mlp", &l.mlp.gate_proj, "gate_proj"),
                ("mlp", &l.mlp.up_proj, "up_proj"),
                ("mlp", &l.mlp.down_proj, "down_proj"),
            ] {
                out.push((format!("{p}.{group}.{name}.weight"), lin.weight.clone()));
                if let Some(b) = &lin.bias {
                    out.push((format!("{p}.{group}.{name}.bias"), b.clone()));
                }
            }
        }
        out.push(("model.norm.weight".to_string(), self.norm.clone()));
        if let Some(w) = &self.lm_head {
            out.push(("lm_head.weight".to_string(), w.clone()));
        }
        out
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Logits for every position, `(batch, seq, vocab)` f32.
    ///
    /// `input_ids` `(batch, seq)` u32; `attention_mask` `(batch, seq)` 1 = token,
    /// 0 = padding (default all ones); `position_ids` `(batch, seq)` (default
    /// `0..seq` per row; restarting at 0 marks a new packed sample, which then
    /// attends only to itself).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        position_ids: Option<&Tensor>,
        ctx: &mut ForwardCtx,
    ) -> Result<Tensor> {
        let hidden = self.hidden_states(input_ids, attention_mask, position_ids, ctx)?;
        let head = self.lm_head.as_ref().unwrap_or(&self.embed_tokens);
        let (b, s, h) = hidden.dims3()?;
        // (batch * seq, hidden) x (hidden, vocab) -> (batch, seq, vocab)
        let logits = crate::frozen_matmul::matmul_wt(&hidden.reshape((b * s, h))?, head)?;
        Ok(logits.reshape((b, s, ()))?)
    }

    /// The final normed hidden states, `(batch, seq, hidden)`.
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        position_ids: Option<&Tensor>,
        ctx: &mut ForwardCtx,
    ) -> Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        let ids = input_ids.to_dtype(DType::U32)?;
        let positions = match position_ids {
            Some(p) if p.dims() == [batch, seq] => p.to_dtype(DType::U32)?,
            Some(p) => {
                return Err(SftError::InvalidArgument(format!(
                    "position_ids shape {:?} differs from input_ids shape {:?}",
                    p.dims(),
                    [batch, seq]
                )));
            }
            None => mask::default_positions(batch, seq, &self.device)?,
        };
        let bias = mask::attention_bias(attention_mask, &positions, &self.device)?;
        let (cos, sin) = self.rope.cos_sin(&positions)?;
        // (batch * seq,) -> (batch, seq, hidden)
        let mut x = self
            .embed_tokens
            .embedding(&ids.flatten_all()?)?
            .reshape((batch, seq, ()))?;
        let eps = self.config.rms_norm_eps;
        for layer in &self.layers {
            let h = rms_norm(&x, &layer.input_layernorm, eps)?;
            let h = layer.self_attn.forward(&h, &cos, &sin, &bias, ctx)?;
            x = (x + h)?;
            let h = rms_norm(&x, &layer.post_attention_layernorm, eps)?;
            let h = layer.mlp.forward(&h, ctx)?;
            x = (x + h)?;
        }
        rms_norm(&x, &self.norm, eps)
    }
}

impl Layer {
    fn projection_mut(&mut self, t: LoraTarget) -> (&mut Linear, &'static str) {
        match t {
            LoraTarget::QProj => (&mut self.self_attn.q_proj, "self_attn"),
            LoraTarget::KProj => (&mut self.self_attn.k_proj, "self_attn"),
            LoraTarget::VProj => (&mut self.self_attn.v_proj, "self_attn"),
            LoraTarget::OProj => (&mut self.self_attn.o_proj, "self_attn"),
            LoraTarget::GateProj => (&mut self.mlp.gate_proj, "mlp"),
            LoraTarget::UpProj => (&mut self.mlp.up_proj, "mlp"),
            LoraTarget::DownProj => (&mut self.mlp.down_proj, "mlp"),
        }
    }
}

/// Every base parameter's HF name and shape for `cfg` (tied `lm_head` omitted).
pub fn parameter_shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    let (h, hd, nh, nkv, im) = (
        cfg.hidden_size,
        cfg.head_dim(),
        cfg.num_attention_heads,
        cfg.kv_heads(),
        cfg.intermediate_size,
    );
    let mut out = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![cfg.vocab_size, h],
    )];
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        out.push((format!("{p}.input_layernorm.weight"), vec![h]));
        out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        for (name, o, bias) in [
            ("q_proj", nh * hd, cfg.qkv_bias()),
            ("k_proj", nkv * hd, cfg.qkv_bias()),
            ("v_proj", nkv * hd, cfg.qkv_bias()),
        ] {
            out.push((format!("{p}.self_attn.{name}.weight"), vec![o, h]));
            if bias {
                out.push((format!("{p}.self_attn.{name}.bias"), vec![o]));
            }
        }
        out.push((format!("{p}.self_attn.o_proj.weight"), vec![h, nh * hd]));
        if cfg.o_bias() {
            out.push((format!("{p}.self_attn.o_proj.bias"), vec![h]));
        }
        for (name, shape) in [
            ("gate_proj", vec![im, h]),
            ("up_proj", vec![im, h]),
            ("down_proj", vec![h, im]),
        ] {
            out.push((format!("{p}.mlp.{name}.weight"), shape.clone()));
            if cfg.mlp_bias {
                out.push((format!("{p}.mlp.{name}.bias"), vec![shape[0]]));
            }
        }
    }
    out.push(("model.norm.weight".to_string(), vec![h]));
    if !cfg.tie_word_embeddings {
        out.push(("lm_head.weight".to_string(), vec![cfg.vocab_size, h]));
    }
    out
}
