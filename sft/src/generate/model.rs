//! The inference-only decoder: the same Llama/Qwen2 computation as
//! [`crate::CausalLm`], built from candle's fused ops (`rms_norm`, `rope`,
//! `softmax_last_dim`) with a [`KvCache`], and every projection (LM head included) a
//! [`QMatMul`]: quantized blocks straight from a GGUF file, or plain f32 tensors.
//! Quantized projections may also hold an f32 copy for prompt prefill (see
//! [`DENSE_PREFILL_ROWS`]). The model is immutable, so one instance serves many
//! sequences at once.

use super::cache::KvCache;
use crate::config::Config;
use crate::error::{Result, SftError};
use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, Module, Tensor};

/// Rows from which a projection with a dense copy multiplies with it instead of the
/// quantized blocks. Measured on the 2-core machine, one thread, Qwen2.5-Coder-0.5B
/// Q4_K_M (`generate_bench --prompt-lines 40`, 755-token prompt): the quantized
/// blocks cost about 42 ms per decoded token and 25 ms per prompt token; the f32
/// copy about 69 ms per decoded token (reading 4x the bytes) and 5.5 ms per prompt
/// token. Per forward of `m` rows that is about 17 + 25m against 64 + 5.5m ms: the
/// copy wins from 3 rows on. 8 leaves margin; decoding (1 row) keeps the blocks.
pub(crate) const DENSE_PREFILL_ROWS: usize = 8;

/// A projection `y = x W^T + b`.
#[derive(Debug, Clone)]
pub(crate) struct Proj {
    /// `(out, in)`, quantized or f32.
    pub(crate) w: QMatMul,
    /// The quantized `w` dequantized to f32, `(out, in)`, used for inputs of at least
    /// [`DENSE_PREFILL_ROWS`] rows (prompt prefill), where a dense matrix product is
    /// about 4.5x faster than candle's quantized dot products. `None` when `w` is f32
    /// already or the copy was not asked for.
    pub(crate) prefill: Option<QMatMul>,
    /// `(out,)` if present.
    pub(crate) b: Option<Tensor>,
}

impl Proj {
    /// `(rows, in)` -> `(rows, out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = match &self.prefill {
            Some(dense) if x.dim(0)? >= DENSE_PREFILL_ROWS => dense,
            _ => &self.w,
        };
        let y = w.forward(x)?;
        Ok(match &self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

/// One decoder layer.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) input_layernorm: Tensor,
    pub(crate) q_proj: Proj,
    pub(crate) k_proj: Proj,
    pub(crate) v_proj: Proj,
    pub(crate) o_proj: Proj,
    pub(crate) post_attention_layernorm: Tensor,
    pub(crate) gate_proj: Proj,
    pub(crate) up_proj: Proj,
    pub(crate) down_proj: Proj,
}

/// How the query/key rows are laid out for rotary embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// Hugging Face's: the two rotated halves are `[..d/2]` and `[d/2..]`.
    Halves,
    /// llama.cpp's (llama GGUF files): rotated pairs are adjacent `(2i, 2i + 1)`.
    Interleaved,
}

/// A Llama-family decoder for generation; see the module doc.
#[derive(Debug, Clone)]
pub struct InferenceModel {
    pub(crate) config: Config,
    /// `(vocab, hidden)`, used for its rows only.
    pub(crate) embed: QMatMul,
    pub(crate) layers: Vec<Block>,
    pub(crate) norm: Tensor,
    /// `(vocab, hidden)`.
    pub(crate) lm_head: QMatMul,
    /// `1 / theta^(2i/d)` with the config's scaling, `(head_dim / 2)`.
    pub(crate) inv_freq: Vec<f32>,
    pub(crate) rope_layout: RopeLayout,
    pub(crate) quantized: bool,
    pub(crate) device: Device,
}

impl InferenceModel {
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the projections hold quantized GGUF blocks (else f32).
    pub fn is_quantized(&self) -> bool {
        self.quantized
    }

    /// The rotary layout of the query/key projections.
    pub fn rope_layout(&self) -> RopeLayout {
        self.rope_layout
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// An empty cache for one sequence, with room for `capacity` tokens before it
    /// grows.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        KvCache::new(
            self.config.num_hidden_layers,
            self.config.kv_heads(),
            self.config.head_dim(),
            capacity,
            &self.device,
        )
    }

    /// Runs `ids` (the next tokens of the sequence) through the model, appending
    /// their keys and values to `cache`. Returns f32 logits `(ids.len(), vocab)` when
    /// `all_logits`, else those of the last token only, `(1, vocab)`.
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache, all_logits: bool) -> Result<Tensor> {
        let seq = ids.len();
        if seq == 0 {
            return Err(SftError::InvalidArgument(
                "forward needs at least one token".into(),
            ));
        }
        let vocab = self.config.vocab_size;
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            return Err(SftError::InvalidArgument(format!(
                "token id {bad} is outside the vocabulary ({vocab})"
            )));
        }
        cache.reserve(seq)?;
        let start = cache.len();
        let (cos, sin) = self.cos_sin(start, seq)?;
        let mask = causal_mask(start, seq, &self.device)?;
        let ids_t = Tensor::new(ids, &self.device)?;
        // (seq, hidden)
        let mut x = self.embed.embedding(&ids_t)?.to_dtype(DType::F32)?;
        let eps = self.config.rms_norm_eps as f32;
        for (i, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.input_layernorm, eps)?;
            let h = self.attention(i, layer, &h, &cos, &sin, mask.as_ref(), cache)?;
            x = (x + h)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.post_attention_layernorm, eps)?;
            let g = layer.gate_proj.forward(&h)?.silu()?;
            let u = layer.up_proj.forward(&h)?;
            let h = layer.down_proj.forward(&(g * u)?)?;
            x = (x + h)?;
        }
        cache.advance(seq);
        let x = if all_logits {
            x
        } else {
            x.narrow(0, seq - 1, 1)?
        };
        let x = candle_nn::ops::rms_norm(&x.contiguous()?, &self.norm, eps)?;
        Ok(self.lm_head.forward(&x)?)
    }

    /// `cos`, `sin` `(seq, head_dim / 2)` for positions `start .. start + seq`,
    /// computed in f32 as Hugging Face does (`position * inv_freq`).
    fn cos_sin(&self, start: usize, seq: usize) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut freqs = Vec::with_capacity(seq * half);
        for p in start..start + seq {
            let p = p as f32;
            freqs.extend(self.inv_freq.iter().map(|f| p * f));
        }
        let freqs = Tensor::from_vec(freqs, (seq, half), &self.device)?;
        Ok((freqs.cos()?, freqs.sin()?))
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        // (heads, seq, d) -> (1, heads, seq, d)
        let x = x.unsqueeze(0)?.contiguous()?;
        let y = match self.rope_layout {
            RopeLayout::Halves => candle_nn::rotary_emb::rope(&x, cos, sin)?,
            RopeLayout::Interleaved => candle_nn::rotary_emb::rope_i(&x, cos, sin)?,
        };
        Ok(y.squeeze(0)?)
    }

    /// Grouped-query attention of `x` `(seq, hidden)` over the cache and itself.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        index: usize,
        layer: &Block,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: &KvCache,
    ) -> Result<Tensor> {
        let seq = x.dim(0)?;
        let (nh, nkv, hd) = (
            self.config.num_attention_heads,
            self.config.kv_heads(),
            self.config.head_dim(),
        );
        let rep = nh / nkv;
        // (seq, heads * d) -> (heads, seq, d)
        let q = layer
            .q_proj
            .forward(x)?
            .reshape((seq, nh, hd))?
            .transpose(0, 1)?;
        let k = layer
            .k_proj
            .forward(x)?
            .reshape((seq, nkv, hd))?
            .transpose(0, 1)?;
        let v = layer
            .v_proj
            .forward(x)?
            .reshape((seq, nkv, hd))?
            .transpose(0, 1)?;
        let q = self.rope(&q, cos, sin)?;
        let k = self.rope(&k, cos, sin)?;
        // (kv_heads, total, d)
        let (k, v) = cache.append(index, &k, &v)?;
        let total = k.dim(1)?;
        // Query head j * rep + r reads kv head j (Hugging Face's `repeat_kv`), so the
        // `rep` query heads of a group become rows of one matrix:
        // (heads, seq, d) -> (kv_heads, rep * seq, d)
        let q = q.reshape((nkv, rep * seq, hd))?;
        let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let scores = match mask {
            // (kv_heads, rep, seq, total) + (seq, total)
            Some(m) => scores
                .reshape((nkv, rep, seq, total))?
                .broadcast_add(m)?
                .reshape((nkv, rep * seq, total))?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        // (kv_heads, rep * seq, d) -> (heads, seq, d) -> (seq, heads * d)
        let out = probs
            .matmul(&v)?
            .reshape((nh, seq, hd))?
            .transpose(0, 1)?
            .contiguous()?
            .reshape((seq, nh * hd))?;
        layer.o_proj.forward(&out)
    }
}

/// The additive causal mask `(seq, start + seq)` of a chunk of `seq` new tokens after
/// `start` cached ones (`None` for a single token, which sees everything).
fn causal_mask(start: usize, seq: usize, device: &Device) -> Result<Option<Tensor>> {
    if seq == 1 {
        return Ok(None);
    }
    let total = start + seq;
    let data: Vec<f32> = (0..seq)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j > start + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Some(Tensor::from_vec(data, (seq, total), device)?))
}

/// `(.., vocab)` logits of the last row as a vector.
pub(crate) fn last_row(logits: &Tensor) -> Result<Vec<f32>> {
    let rows = logits.dim(0)?;
    Ok(logits
        .narrow(0, rows - 1, 1)?
        .squeeze(0)?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?)
}

#[cfg(test)]
mod prefill_tests;
