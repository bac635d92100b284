//! Loading a Hugging Face model directory: `config.json` plus `model.safetensors` or
//! shards listed in `model.safetensors.index.json`.

use crate::config::Config;
use crate::error::{Result, SftError};
use crate::model::CausalLm;
use candle_core::{Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Reads every tensor of a safetensors file.
pub fn load_safetensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(SftError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    Ok(candle_core::safetensors::load(path, device)?)
}

/// The config and all weights of a Hugging Face directory.
pub fn load_hf_dir(dir: &Path, device: &Device) -> Result<(Config, HashMap<String, Tensor>)> {
    let config = Config::from_file(&dir.join("config.json"))?;
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok((config, load_safetensors(&single, device)?));
    }
    let index_path = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index_path).map_err(|source| SftError::Io {
        path: index_path.clone(),
        source,
    })?;
    let bad = |m: String| SftError::Config {
        path: index_path.clone(),
        message: m,
    };
    let index: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no `weight_map` object".into()))?;
    let mut files = BTreeSet::new();
    for v in map.values() {
        let f = v
            .as_str()
            .ok_or_else(|| bad("`weight_map` values must be file names".into()))?;
        if f.contains('/') || f.contains("..") {
            return Err(bad(format!("shard name `{f}` leaves the directory")));
        }
        files.insert(f.to_string());
    }
    let mut weights = HashMap::new();
    for f in files {
        weights.extend(load_safetensors(&dir.join(f), device)?);
    }
    Ok((config, weights))
}

/// Writes `model` as a Hugging Face directory (`config.json`, `model.safetensors`)
/// that `transformers` and [`load_hf_dir`] load. LoRA adapters are not included:
/// merge them first ([`CausalLm::merge_lora`]) or save them with
/// [`crate::peft::save_adapter`]. Each file goes to a temporary name, then is renamed.
pub fn save_hf_dir(model: &CausalLm, dir: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> = model
        .named_weights()
        .into_iter()
        .map(|(n, t)| (n, t.detach()))
        .collect();
    crate::atomic_file::write_safetensors(&dir.join("model.safetensors"), &tensors)?;
    let mut cfg = serde_json::to_value(&model.config)
        .map_err(|e| SftError::InvalidArgument(e.to_string()))?;
    cfg["torch_dtype"] = "float32".into();
    crate::atomic_file::write_json_pretty(&dir.join("config.json"), &cfg)
}

/// Tokenizer and generation files a Hugging Face directory carries next to the
/// weights; [`copy_tokenizer_files`] copies those present.
pub const TOKENIZER_FILES: [&str; 5] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// Copies the [`TOKENIZER_FILES`] found in `src` into `dst` (for a saved or merged
/// model to load in `transformers` with its tokenizer). Returns the names copied.
pub fn copy_tokenizer_files(src: &Path, dst: &Path) -> Result<Vec<&'static str>> {
    let mut copied = Vec::new();
    for name in TOKENIZER_FILES {
        let from = src.join(name);
        if from.is_file() {
            let to = dst.join(name);
            std::fs::copy(&from, &to).map_err(|source| SftError::Io { path: to, source })?;
            copied.push(name);
        }
    }
    Ok(copied)
}
