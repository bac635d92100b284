//! A smaller student cut from the teacher itself: the same embeddings, final norm,
//! head and tokenizer, and `n` of its decoder layers, evenly spaced from the first to
//! the last (DistilBERT initialized its student from every other teacher layer).
//! Such a student shares the teacher's vocabulary by construction, and distillation
//! then restores what the dropped layers did.

use crate::error::{Result, SftError};
use crate::finetune::save_model_dir;
use crate::model::{CausalLm, TrainMode};
use crate::prepare::ChatTokenizer;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// Which of `total` layers a student of `n` keeps: evenly spaced, first and last
/// included (`n = 1` keeps the first).
pub fn kept_layers(total: usize, n: usize) -> Vec<usize> {
    if n <= 1 || total <= 1 {
        return vec![0];
    }
    (0..n)
        .map(|i| (i * (total - 1) + (n - 1) / 2) / (n - 1))
        .collect()
}

/// Writes to `out` a Hugging Face directory holding `source` (a GGUF file or a
/// Hugging Face directory) with only `layers` decoder layers, plus its tokenizer.
/// Returns the kept layer indices.
pub fn init_student(source: &Path, layers: usize, out: &Path) -> Result<Vec<usize>> {
    let device = Device::Cpu;
    let (mut config, weights) = if source.is_dir() {
        crate::weights::load_hf_dir(source, &device)?
    } else {
        crate::gguf::load_gguf(source, &device)?
    };
    let total = config.num_hidden_layers;
    if layers == 0 || layers >= total {
        return Err(SftError::InvalidArgument(format!(
            "--layers {layers} must be between 1 and {} (the source has {total})",
            total.saturating_sub(1)
        )));
    }
    let kept = kept_layers(total, layers);
    let mut renamed: HashMap<String, Tensor> = HashMap::new();
    for (name, t) in weights {
        match name
            .strip_prefix("model.layers.")
            .and_then(|rest| rest.split_once('.'))
        {
            Some((idx, rest)) => {
                let Ok(i) = idx.parse::<usize>() else {
                    continue;
                };
                if let Some(j) = kept.iter().position(|&k| k == i) {
                    renamed.insert(format!("model.layers.{j}.{rest}"), t);
                }
            }
            None => {
                renamed.insert(name, t);
            }
        }
    }
    config.num_hidden_layers = layers;
    let model = CausalLm::from_weights(config, &renamed, &TrainMode::Frozen, &device)?;
    let tok = ChatTokenizer::from_model_path(source)?;
    save_model_dir(&model, &tok, source, out)?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::kept_layers;

    #[test]
    fn keeps_first_and_last_evenly() {
        assert_eq!(kept_layers(30, 2), vec![0, 29]);
        // 29·i/3 rounded: 0, 9.67, 19.33, 29
        assert_eq!(kept_layers(30, 4), vec![0, 10, 19, 29]);
        assert_eq!(kept_layers(24, 12).len(), 12);
        assert_eq!(kept_layers(24, 12)[0], 0);
        assert_eq!(kept_layers(24, 12)[11], 23);
        let k = kept_layers(24, 12);
        assert!(k.windows(2).all(|w| w[0] < w[1]), "{k:?}");
    }
}
