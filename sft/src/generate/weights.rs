//! Building an [`InferenceModel`]: from Hugging Face-named f32 tensors (an HF
//! directory, a dequantized GGUF file), from a [`CausalLm`] (LoRA merged into a copy
//! of its weights), or from a GGUF file with its projections kept quantized.

use super::model::{Block, InferenceModel, Proj, RopeLayout};
use crate::config::Config;
use crate::error::{Result, SftError};
use crate::gguf::{config_from_content, gguf_err, hf_name};
use crate::model::CausalLm;
use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A weight as it arrives: quantized blocks or a dense tensor.
enum Weight {
    Quantized(Arc<QTensor>),
    Dense(Tensor),
}

/// Takes weights out of a name → weight map, checking shapes.
struct Source<'a> {
    weights: &'a HashMap<String, Weight>,
    device: Device,
    /// Give quantized projections an f32 copy for prompt prefill.
    dense_prefill: bool,
}

impl Source<'_> {
    fn entry(&self, name: &str, shape: &[usize]) -> Result<&Weight> {
        let w = self
            .weights
            .get(name)
            .ok_or_else(|| SftError::MissingTensor(name.to_string()))?;
        let actual = match w {
            Weight::Quantized(q) => q.shape().dims().to_vec(),
            Weight::Dense(t) => t.dims().to_vec(),
        };
        if actual != shape {
            return Err(SftError::TensorShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                actual,
            });
        }
        Ok(w)
    }

    /// A dense f32 tensor (norms, biases).
    fn dense(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        Ok(match self.entry(name, shape)? {
            Weight::Quantized(q) => q.dequantize(&self.device)?,
            Weight::Dense(t) => t.to_device(&self.device)?.to_dtype(DType::F32)?.detach(),
        })
    }

    /// A matrix for `QMatMul` (quantized kept as is, or re-encoded by
    /// [`fast_blocks`]; dense as f32).
    fn matrix(&self, name: &str, shape: &[usize]) -> Result<QMatMul> {
        Ok(match self.entry(name, shape)? {
            Weight::Quantized(q) => QMatMul::from_arc(fast_blocks(q)?)?,
            Weight::Dense(t) => {
                QMatMul::Tensor(t.to_device(&self.device)?.to_dtype(DType::F32)?.detach())
            }
        })
    }

    /// The embedding table: quantized rows are dequantized one lookup at a time, so
    /// they stay in their original blocks.
    fn embedding(&self, name: &str, shape: &[usize]) -> Result<QMatMul> {
        Ok(match self.entry(name, shape)? {
            Weight::Quantized(q) => QMatMul::from_arc(Arc::clone(q))?,
            Weight::Dense(t) => {
                QMatMul::Tensor(t.to_device(&self.device)?.to_dtype(DType::F32)?.detach())
            }
        })
    }

    /// The f32 prefill copy of a quantized projection matrix (dequantized from the
    /// file's blocks, as the `dequantize` load does), if asked for.
    fn prefill_copy(&self, name: &str, shape: &[usize]) -> Result<Option<QMatMul>> {
        Ok(match self.entry(name, shape)? {
            Weight::Quantized(q) if self.dense_prefill => {
                Some(QMatMul::Tensor(q.dequantize(&self.device)?))
            }
            _ => None,
        })
    }

    fn proj(&self, prefix: &str, out_dim: usize, in_dim: usize, bias: bool) -> Result<Proj> {
        let name = format!("{prefix}.weight");
        Ok(Proj {
            w: self.matrix(&name, &[out_dim, in_dim])?,
            prefill: self.prefill_copy(&name, &[out_dim, in_dim])?,
            b: if bias {
                Some(self.dense(&format!("{prefix}.bias"), &[out_dim])?)
            } else {
                None
            },
        })
    }
}

/// Block types that candle 0.11 multiplies with scalar code only (no AVX2/AVX-512
/// or NEON kernel): llama.cpp's fallbacks for rows not divisible by 256 (`Q5_0` in
/// Qwen2.5's `Q4_K_M` files) and `Q4_1` (SmolLM2's file). They are re-encoded as
/// `Q8_0` at load, which holds their values to within Q8_0's rounding (a step of
/// 1/127 of each 32-value block's largest magnitude, finer than the 5- or 4-bit
/// step they came with) and runs about 10x faster.
fn fast_blocks(q: &Arc<QTensor>) -> Result<Arc<QTensor>> {
    match q.dtype() {
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 | GgmlDType::Q8_1 => {
            let dense = q.dequantize(&q.device())?;
            Ok(Arc::new(QTensor::quantize(&dense, GgmlDType::Q8_0)?))
        }
        _ => Ok(Arc::clone(q)),
    }
}

fn build(
    config: Config,
    weights: &HashMap<String, Weight>,
    rope_layout: RopeLayout,
    quantized: bool,
    dense_prefill: bool,
    device: &Device,
) -> Result<InferenceModel> {
    config.validate()?;
    let cfg = &config;
    let src = Source {
        weights,
        device: device.clone(),
        dense_prefill,
    };
    let (h, hd, nh, nkv, im) = (
        cfg.hidden_size,
        cfg.head_dim(),
        cfg.num_attention_heads,
        cfg.kv_heads(),
        cfg.intermediate_size,
    );
    let embed_name = "model.embed_tokens.weight";
    let embed = src.embedding(embed_name, &[cfg.vocab_size, h])?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        let qkv = cfg.qkv_bias();
        layers.push(Block {
            input_layernorm: src.dense(&format!("{p}.input_layernorm.weight"), &[h])?,
            q_proj: src.proj(&format!("{p}.self_attn.q_proj"), nh * hd, h, qkv)?,
            k_proj: src.proj(&format!("{p}.self_attn.k_proj"), nkv * hd, h, qkv)?,
            v_proj: src.proj(&format!("{p}.self_attn.v_proj"), nkv * hd, h, qkv)?,
            o_proj: src.proj(&format!("{p}.self_attn.o_proj"), h, nh * hd, cfg.o_bias())?,
            post_attention_layernorm: src
                .dense(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
            gate_proj: src.proj(&format!("{p}.mlp.gate_proj"), im, h, cfg.mlp_bias)?,
            up_proj: src.proj(&format!("{p}.mlp.up_proj"), im, h, cfg.mlp_bias)?,
            down_proj: src.proj(&format!("{p}.mlp.down_proj"), h, im, cfg.mlp_bias)?,
        });
    }
    let norm = src.dense("model.norm.weight", &[h])?;
    let lm_head = if cfg.tie_word_embeddings || !weights.contains_key("lm_head.weight") {
        src.matrix(embed_name, &[cfg.vocab_size, h])?
    } else {
        src.matrix("lm_head.weight", &[cfg.vocab_size, h])?
    };
    let inv_freq = crate::rope::inv_freq(cfg)
        .into_iter()
        .map(|f| f as f32)
        .collect();
    Ok(InferenceModel {
        config,
        embed,
        layers,
        norm,
        lm_head,
        inv_freq,
        rope_layout,
        quantized,
        device: device.clone(),
    })
}

impl InferenceModel {
    /// From Hugging Face-named tensors (what [`crate::weights::load_hf_dir`] and
    /// [`crate::gguf::load_gguf`] return); every weight becomes f32 on `device`.
    pub fn from_weights(
        config: Config,
        weights: &HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        let map: HashMap<String, Weight> = weights
            .iter()
            .map(|(k, t)| (k.clone(), Weight::Dense(t.clone())))
            .collect();
        build(config, &map, RopeLayout::Halves, false, false, device)
    }

    /// From a trainable model. Its LoRA adapters, if any, are merged into a copy of
    /// the affected weights (the model itself is unchanged); other weights share
    /// storage with it, so build the generator again after further training steps
    /// if the two must not interfere.
    pub fn from_causal_lm(model: &CausalLm) -> Result<Self> {
        let mut merged = model.clone();
        merged.merge_lora()?;
        let weights: HashMap<String, Tensor> = merged.named_weights().into_iter().collect();
        Self::from_weights(merged.config.clone(), &weights, model.device())
    }

    /// From a llama- or qwen2-architecture GGUF file, keeping every matrix (the
    /// embedding table and the LM head included) in its quantized blocks; norms and
    /// biases are dequantized. llama files keep llama.cpp's Q/K row order and use
    /// the matching interleaved rotary layout.
    ///
    /// With `dense_prefill` (used on the CPU only), each layer's projections also
    /// keep an f32 copy, which multiplies prompts about 4.5x faster (see
    /// [`super::model::DENSE_PREFILL_ROWS`]) at the cost of 4 bytes per weight of
    /// memory (1.4 GB for Qwen2.5-Coder-0.5B, 0.4 GB for SmolLM2-135M).
    pub fn from_gguf(path: &Path, device: &Device, dense_prefill: bool) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|source| SftError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let content = Content::read(&mut file).map_err(|e| gguf_err(path, e.to_string()))?;
        let (config, permuted) = config_from_content(path, &content)?;
        let mut weights = HashMap::new();
        let names: Vec<String> = content.tensor_infos.keys().cloned().collect();
        for name in names {
            let Some(hf) = hf_name(&name) else { continue };
            let q = content
                .tensor(&mut file, &name, device)
                .map_err(|e| gguf_err(path, format!("tensor {name}: {e}")))?;
            weights.insert(hf, Weight::Quantized(Arc::new(q)));
        }
        let layout = if permuted {
            RopeLayout::Interleaved
        } else {
            RopeLayout::Halves
        };
        build(
            config,
            &weights,
            layout,
            true,
            dense_prefill && device.is_cpu(),
            device,
        )
    }
}
