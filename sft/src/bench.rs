//! The training-step benchmark behind `distill bench train`: forward + backward +
//! clipping + AdamW step of the real training loop ([`crate::Trainer`]) on a fixed
//! random batch, timed after a warmup step. Peak memory is the process's `VmHWM`, so
//! callers run one configuration per process to compare it fairly.

use crate::data::Example;
use crate::error::Result;
use crate::finetune::load_model;
use crate::lora::{LoraConfig, LoraTarget};
use crate::model::TrainMode;
use crate::optim::AdamWConfig;
use crate::rng::Rng;
use crate::schedule::Decay;
use crate::train::{TrainConfig, Trainer, peak_rss_bytes};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// What to benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainBenchConfig {
    /// A GGUF file or Hugging Face directory (weights dequantized to f32).
    pub model: PathBuf,
    /// Train every weight instead of LoRA adapters.
    pub full: bool,
    /// LoRA rank (alpha = 2 × rank, dropout 0.05, all seven projections).
    pub lora_rank: usize,
    /// Sequences per step.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// Timed steps (after one untimed warmup step).
    pub steps: u64,
    /// Seed of the random tokens.
    pub seed: u64,
}

/// What one benchmark run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainBenchResult {
    /// `batch × seq` tokens per second over the timed steps.
    pub tokens_per_s: f64,
    /// Seconds of each timed step.
    pub step_seconds: Vec<f64>,
    /// Peak resident memory of the process (Linux `VmHWM`), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Trainable parameters.
    pub trainable_params: usize,
    /// The model's config as Hugging Face `config.json` fields (for the baseline).
    pub model_config: serde_json::Value,
    /// Where the steps ran: `cpu` or `cuda`.
    pub device: String,
}

/// Runs the benchmark described by `cfg` on the training device
/// ([`crate::finetune::device`]: the GPU in a CUDA build, else the CPU).
pub fn bench_train(cfg: &TrainBenchConfig) -> Result<TrainBenchResult> {
    let device = crate::finetune::device()?;
    let mode = if cfg.full {
        TrainMode::Full
    } else {
        TrainMode::Lora(LoraConfig {
            rank: cfg.lora_rank,
            alpha: 2.0 * cfg.lora_rank as f64,
            dropout: 0.05,
            targets: LoraTarget::ALL.to_vec(),
            seed: cfg.seed,
        })
    };
    let model = load_model(&cfg.model, &mode, &device)?;
    let trainable_params = model.trainable().iter().map(|(_, v)| v.elem_count()).sum();
    let model_config = serde_json::to_value(&model.config)
        .map_err(|e| crate::SftError::InvalidArgument(e.to_string()))?;
    let vocab = model.config.vocab_size as u64;
    let mut rng = Rng::new(cfg.seed);
    let examples: Vec<Example> = (0..cfg.batch)
        .map(|_| Example {
            input_ids: (0..cfg.seq)
                .map(|_| (rng.next_u64() % vocab) as u32)
                .collect(),
            loss_mask: vec![1; cfg.seq],
            position_ids: None,
        })
        .collect();
    // One step per epoch; the run is one step longer than the warmup and timed steps,
    // so its last step (which writes a checkpoint) never runs: the timed steps are
    // forward, backward, clipping and AdamW only, as in the PyTorch baseline.
    let train = TrainConfig {
        epochs: cfg.steps + 2,
        batch_size: cfg.batch,
        adamw: AdamWConfig {
            lr: 1e-5,
            ..AdamWConfig::default()
        },
        decay: Decay::Constant,
        ..TrainConfig::default()
    };
    let out = tempfile_dir()?;
    let mut trainer = Trainer::new(model, train, examples.len(), &out)?;
    trainer.run(&examples, &[], Some(1))?;
    let mut step_seconds = Vec::new();
    device.synchronize()?;
    for _ in 0..cfg.steps {
        let t = Instant::now();
        trainer.run(&examples, &[], Some(1))?;
        // A GPU queues work: the step is done when the device is.
        device.synchronize()?;
        step_seconds.push(t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&out);
    let total: f64 = step_seconds.iter().sum();
    let tokens = (cfg.batch * cfg.seq) as f64 * step_seconds.len() as f64;
    Ok(TrainBenchResult {
        tokens_per_s: if total > 0.0 { tokens / total } else { 0.0 },
        step_seconds,
        peak_rss_bytes: peak_rss_bytes(),
        trainable_params,
        model_config,
        device: if device.is_cuda() { "cuda" } else { "cpu" }.to_string(),
    })
}

/// A fresh scratch directory for the trainer's metrics (removed afterwards).
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("distill-bench-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| crate::SftError::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}
