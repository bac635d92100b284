//! LoRA adapters on disk in PEFT's layout: `adapter_config.json` and
//! `adapter_model.safetensors` with keys
//! `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`.

use crate::atomic_file::{write_json_pretty, write_safetensors};
use crate::error::{Result, SftError};
use crate::lora::{LoraConfig, LoraTarget};
use crate::model::CausalLm;
use candle_core::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// PEFT's prefix in front of the model's own parameter names.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// The `adapter_config.json` PEFT writes for this LoRA setting.
pub fn adapter_config_json(lc: &LoraConfig) -> serde_json::Value {
    let targets: Vec<&str> = lc.targets.iter().map(|t| t.name()).collect();
    serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": lc.rank,
        "lora_alpha": lc.alpha,
        "lora_dropout": lc.dropout,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "use_rslora": false,
        "use_dora": false,
        "inference_mode": true,
        "modules_to_save": null,
        "base_model_name_or_path": null,
    })
}

/// Writes the model's adapters to `dir` (created if needed). Files are written to a
/// temporary name and renamed, so a crash leaves no half-written file.
pub fn save_adapter(model: &CausalLm, lc: &LoraConfig, dir: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> = model
        .trainable()
        .iter()
        .filter(|(n, _)| n.contains(".lora_"))
        .map(|(n, v)| (format!("{PEFT_PREFIX}{n}"), v.as_tensor().detach()))
        .collect();
    if tensors.is_empty() {
        return Err(SftError::InvalidArgument(
            "the model has no LoRA adapter".into(),
        ));
    }
    write_safetensors(&dir.join("adapter_model.safetensors"), &tensors)?;
    write_json_pretty(&dir.join("adapter_config.json"), &adapter_config_json(lc))
}

/// Reads `adapter_config.json` into a [`LoraConfig`].
pub fn read_adapter_config(path: &Path) -> Result<LoraConfig> {
    let text = std::fs::read_to_string(path).map_err(|source| SftError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |m: String| SftError::Config {
        path: path.to_path_buf(),
        message: m,
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if v.get("peft_type").and_then(|x| x.as_str()) != Some("LORA") {
        return Err(bad("`peft_type` must be \"LORA\"".into()));
    }
    if v.get("use_dora").and_then(|x| x.as_bool()) == Some(true)
        || v.get("use_rslora").and_then(|x| x.as_bool()) == Some(true)
    {
        return Err(bad("DoRA and rsLoRA adapters are not supported".into()));
    }
    let rank = v
        .get("r")
        .and_then(|x| x.as_u64())
        .ok_or_else(|| bad("missing integer `r`".into()))? as usize;
    let alpha = v
        .get("lora_alpha")
        .and_then(|x| x.as_f64())
        .ok_or_else(|| bad("missing number `lora_alpha`".into()))?;
    let dropout = v
        .get("lora_dropout")
        .and_then(|x| x.as_f64())
        .unwrap_or(0.0) as f32;
    let names = v
        .get("target_modules")
        .and_then(|x| x.as_array())
        .ok_or_else(|| bad("`target_modules` must be a list".into()))?;
    let mut targets = Vec::new();
    for n in names {
        let n = n.as_str().unwrap_or_default();
        let t = LoraTarget::ALL
            .into_iter()
            .find(|t| t.name() == n)
            .ok_or_else(|| bad(format!("unsupported target module `{n}`")))?;
        targets.push(t);
    }
    let lc = LoraConfig {
        rank,
        alpha,
        dropout,
        targets,
        seed: 0,
    };
    lc.validate()?;
    Ok(lc)
}

/// Attaches the adapter stored in `dir` to `model` and returns its settings.
pub fn load_adapter(model: &mut CausalLm, dir: &Path) -> Result<LoraConfig> {
    let lc = read_adapter_config(&dir.join("adapter_config.json"))?;
    let tensors =
        crate::weights::load_safetensors(&dir.join("adapter_model.safetensors"), model.device())?;
    model.add_lora(&lc)?;
    for (name, var) in model.trainable() {
        if !name.contains(".lora_") {
            continue;
        }
        let key = format!("{PEFT_PREFIX}{name}");
        // PEFT files written by Python may carry the adapter name (`.default`)
        let alt = key.replace(".weight", ".default.weight");
        let t = tensors
            .get(&key)
            .or_else(|| tensors.get(&alt))
            .ok_or_else(|| SftError::MissingTensor(key.clone()))?;
        if t.dims() != var.dims() {
            return Err(SftError::TensorShape {
                name: key,
                expected: var.dims().to_vec(),
                actual: t.dims().to_vec(),
            });
        }
        var.set(&t.to_dtype(var.dtype())?)?;
    }
    Ok(lc)
}
