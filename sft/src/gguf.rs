//! Loading a llama- or qwen2-architecture GGUF file as trainable f32 weights:
//! the config comes from the metadata, tensors are dequantized and renamed to Hugging
//! Face keys, and llama's Q/K projections are un-permuted from llama.cpp's rotary
//! layout back to Hugging Face's.

use crate::config::Config;
use crate::error::{Result, SftError};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// The config and dequantized, HF-named f32 weights of a GGUF file.
pub fn load_gguf(path: &Path, device: &Device) -> Result<(Config, HashMap<String, Tensor>)> {
    let mut file = std::fs::File::open(path).map_err(|source| SftError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let content = Content::read(&mut file).map_err(|e| gguf_err(path, e.to_string()))?;
    let (config, permuted) = config_from_content(path, &content)?;
    let (heads, kv_heads) = (config.num_attention_heads, config.kv_heads());
    let mut weights = HashMap::new();
    let names: Vec<String> = content.tensor_infos.keys().cloned().collect();
    for name in names {
        let Some(hf) = hf_name(&name) else { continue };
        let q = content
            .tensor(&mut file, &name, device)
            .map_err(|e| gguf_err(path, format!("tensor {name}: {e}")))?;
        let mut t = q.dequantize(device)?.to_dtype(DType::F32)?;
        if permuted && hf.ends_with("self_attn.q_proj.weight") {
            t = unpermute(&t, heads)?;
        } else if permuted && hf.ends_with("self_attn.k_proj.weight") {
            t = unpermute(&t, kv_heads)?;
        }
        weights.insert(hf, t);
    }
    Ok((config, weights))
}

/// The [`Config`] a GGUF file's metadata describes, and whether its Q/K projection
/// rows are stored in llama.cpp's permuted rotary layout (llama: yes; qwen2: no).
pub fn config_from_content(path: &Path, content: &Content) -> Result<(Config, bool)> {
    let meta = Meta { path, content };
    let arch = meta.string("general.architecture")?;
    let (model_type, architecture, permuted) = match arch.as_str() {
        "llama" => ("llama", "LlamaForCausalLM", true),
        "qwen2" => ("qwen2", "Qwen2ForCausalLM", false),
        other => return Err(SftError::UnsupportedArchitecture(format!("gguf:{other}"))),
    };
    let key = |k: &str| format!("{arch}.{k}");
    let hidden = meta.usize(&key("embedding_length"))?;
    let heads = meta.usize(&key("attention.head_count"))?;
    let kv_heads = meta.usize_or(&key("attention.head_count_kv"), heads)?;
    let layers = meta.usize(&key("block_count"))?;
    let embd_shape = content
        .tensor_infos
        .get("token_embd.weight")
        .map(|t| t.shape.dims().to_vec())
        .ok_or_else(|| SftError::MissingTensor("token_embd.weight".into()))?;
    let vocab = match meta.usize(&key("vocab_size")) {
        Ok(v) => v,
        Err(_) => embd_shape.first().copied().unwrap_or(0),
    };
    let tied = !content.tensor_infos.contains_key("output.weight");
    let mut json = serde_json::json!({
        "architectures": [architecture],
        "model_type": model_type,
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": meta.usize(&key("feed_forward_length"))?,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": meta.usize_or(&key("context_length"), 2048)?,
        "rms_norm_eps": meta.f64(&key("attention.layer_norm_rms_epsilon"))?,
        "rope_theta": meta.f64_or(&key("rope.freq_base"), 10_000.0)?,
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
    });
    if let Ok(d) = meta.usize(&key("attention.key_length")) {
        json["head_dim"] = d.into();
    }
    let config: Config = serde_json::from_value(json).map_err(|e| gguf_err(path, e.to_string()))?;
    config.validate()?;

    Ok((config, permuted))
}

/// Inverts llama.cpp's `permute`: rows `(heads, 2, d/2)` were stored as
/// `(heads, d/2, 2)`; `(out, in)` -> `(out, in)`.
pub fn unpermute(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    if heads == 0 || out % (2 * heads) != 0 {
        return Err(SftError::InvalidArgument(format!(
            "cannot un-permute {out} rows over {heads} heads"
        )));
    }
    let half = out / heads / 2;
    Ok(w.reshape((heads, half, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}

/// The Hugging Face key of a GGUF tensor name, or `None` for tensors we skip.
pub(crate) fn hf_name(gguf: &str) -> Option<String> {
    match gguf {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, tail) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = tail.rsplit_once('.')?;
    let hf = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

pub(crate) fn gguf_err(path: &Path, message: String) -> SftError {
    SftError::Gguf {
        path: path.to_path_buf(),
        message,
    }
}

/// Typed access to GGUF metadata with errors that name the key.
struct Meta<'a> {
    path: &'a Path,
    content: &'a Content,
}

impl Meta<'_> {
    fn get(&self, key: &str) -> Result<&Value> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| gguf_err(self.path, format!("missing key `{key}`")))
    }

    fn string(&self, key: &str) -> Result<String> {
        match self.get(key)? {
            Value::String(s) => Ok(s.clone()),
            v => Err(gguf_err(
                self.path,
                format!("`{key}` is {v:?}, not a string"),
            )),
        }
    }

    fn usize(&self, key: &str) -> Result<usize> {
        let v = self.get(key)?;
        let n: Option<u64> = match v {
            Value::U8(x) => Some(u64::from(*x)),
            Value::U16(x) => Some(u64::from(*x)),
            Value::U32(x) => Some(u64::from(*x)),
            Value::U64(x) => Some(*x),
            Value::I8(x) => u64::try_from(*x).ok(),
            Value::I16(x) => u64::try_from(*x).ok(),
            Value::I32(x) => u64::try_from(*x).ok(),
            Value::I64(x) => u64::try_from(*x).ok(),
            _ => None,
        };
        n.and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| gguf_err(self.path, format!("`{key}` is {v:?}, not a count")))
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        if self.content.metadata.contains_key(key) {
            self.usize(key)
        } else {
            Ok(default)
        }
    }

    fn f64(&self, key: &str) -> Result<f64> {
        match self.get(key)? {
            Value::F32(x) => Ok(f64::from(*x)),
            Value::F64(x) => Ok(*x),
            v => Err(gguf_err(
                self.path,
                format!("`{key}` is {v:?}, not a float"),
            )),
        }
    }

    fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        if self.content.metadata.contains_key(key) {
            self.f64(key)
        } else {
            Ok(default)
        }
    }
}
