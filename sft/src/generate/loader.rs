//! One entry point from a path to a ready [`Generator`]: a `.gguf` file (kept
//! quantized by default) or a Hugging Face directory with `config.json`, optionally
//! with a PEFT adapter directory whose LoRA is merged in.

use super::generator::Generator;
use super::model::InferenceModel;
use crate::error::{Result, SftError};
use crate::model::{CausalLm, TrainMode};
use crate::prepare::ChatTokenizer;
use candle_core::Device;
use std::path::{Path, PathBuf};

/// How to load a model for generation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    /// A PEFT adapter directory (`adapter_config.json`, `adapter_model.safetensors`)
    /// to merge into the weights. Default none.
    pub adapter: Option<PathBuf>,
    /// Dequantize a GGUF file to f32 instead of keeping its quantized blocks (slower,
    /// more memory; exact f32 arithmetic). Implied by `adapter`. Default false.
    pub dequantize: bool,
    /// Keep prompt prefill on a quantized GGUF file's blocks too, instead of giving
    /// each projection an f32 copy for it (prefill about 4.5x slower on the CPU, 4
    /// bytes per weight less memory; decoding always uses the blocks). Default false.
    pub quantized_prefill: bool,
}

/// Loads `path` (a `.gguf` file or a Hugging Face directory) on the CPU with default
/// options.
pub fn load(path: &Path) -> Result<Generator> {
    load_on(path, &LoadOptions::default(), &Device::Cpu)
}

/// Loads `path` with `opts` on the CPU.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Generator> {
    load_on(path, opts, &Device::Cpu)
}

/// Loads `path` with `opts` on `device`.
pub fn load_on(path: &Path, opts: &LoadOptions, device: &Device) -> Result<Generator> {
    let is_gguf = path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    let is_hf = path.is_dir() && path.join("config.json").is_file();
    if !is_gguf && !is_hf {
        return Err(SftError::NotAModel {
            path: path.to_path_buf(),
        });
    }
    let tokenizer = ChatTokenizer::from_model_path(path)?;
    let model = if is_gguf && opts.adapter.is_none() && !opts.dequantize {
        InferenceModel::from_gguf(path, device, !opts.quantized_prefill)?
    } else {
        let (config, weights) = if is_gguf {
            crate::gguf::load_gguf(path, device)?
        } else {
            crate::weights::load_hf_dir(path, device)?
        };
        match &opts.adapter {
            None => InferenceModel::from_weights(config, &weights, device)?,
            Some(dir) => {
                let mut lm = CausalLm::from_weights(config, &weights, &TrainMode::Frozen, device)?;
                drop(weights);
                crate::peft::load_adapter(&mut lm, dir)?;
                InferenceModel::from_causal_lm(&lm)?
            }
        }
    };
    let extra_eos = if is_hf {
        generation_config_eos(path)?
    } else {
        Vec::new()
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(Generator::new(model, tokenizer, &extra_eos, name))
}

/// `eos_token_id` (a number or a list) of `generation_config.json`, if the file
/// exists.
fn generation_config_eos(dir: &Path) -> Result<Vec<u32>> {
    let path = dir.join("generation_config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(SftError::Io { path, source }),
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| SftError::Config {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let ids = match v.get("eos_token_id") {
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_u64()).collect(),
        Some(x) => x.as_u64().into_iter().collect(),
        None => Vec::new(),
    };
    Ok(ids
        .into_iter()
        .filter_map(|i| u32::try_from(i).ok())
        .collect())
}
