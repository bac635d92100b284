//! Supervised fine-tuning end to end from one settings struct: validate everything,
//! load the model (GGUF file or Hugging Face directory) and its tokenizer, prepare
//! the data, resume from the newest checkpoint in the output directory, train, and
//! write the PEFT adapter (or the full model) and, on request, a merged model.
//!
//! Output directory: `metrics.jsonl`, `checkpoint-{step}/`, `adapter_config.json` +
//! `adapter_model.safetensors` (LoRA), `model/` (full fine-tuning), `merged/`
//! (LoRA merged into the base weights, with `--merge`).

use crate::error::{Result, SftError};
use crate::lora::{LoraConfig, LoraTarget};
use crate::model::{CausalLm, TrainMode};
use crate::objective::{CrossEntropy, Objective};
use crate::optim::AdamWConfig;
use crate::prepare::{ChatTokenizer, PrepareOptions, Prepared, prepare_file};
use crate::schedule::Decay;
use crate::start_eval::{StartEval, start_eval};
use crate::train::{StepMetrics, TrainConfig, Trainer};
use candle_core::Device;
use datasets::BadRecord;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Every setting of a fine-tuning run. TOML/JSON keys are the CLI flags' names
/// (`lora-rank`, `batch-size`, ...); absent keys take the defaults below; unknown keys
/// are an error. Relative paths are taken from the working directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct FinetuneConfig {
    /// The base model: a GGUF file or a Hugging Face directory. Required.
    pub model: PathBuf,
    /// SFT data (JSONL, ours or TRL's conversational shapes). Required.
    pub data: PathBuf,
    /// Output directory (metrics, checkpoints, adapter). Required.
    pub out: PathBuf,
    /// Train every weight instead of a LoRA adapter. Default false.
    pub full: bool,
    /// LoRA rank. Default 16.
    pub lora_rank: usize,
    /// LoRA alpha (the delta is scaled by alpha / rank). Default 32.
    pub lora_alpha: f64,
    /// Dropout on the adapter input. Default 0.05.
    pub lora_dropout: f32,
    /// Projections that get adapters (`q_proj`, ..., `down_proj`). Default all seven.
    pub lora_targets: Vec<LoraTarget>,
    /// Passes over the training data. Default 1.
    pub epochs: u64,
    /// Examples per micro-batch. Default 4.
    pub batch_size: usize,
    /// Micro-batches per optimizer step. Default 1.
    pub grad_accum: usize,
    /// Peak learning rate. Default 2e-4.
    pub lr: f64,
    /// Decoupled weight decay. Default 0.0.
    pub weight_decay: f64,
    /// Linear warmup steps. Default 0.
    pub warmup_steps: u64,
    /// Decay after warmup. Default cosine.
    pub decay: Decay,
    /// Global gradient-norm limit; 0 disables clipping. Default 1.0.
    pub max_grad_norm: f64,
    /// Longest example in tokens (longer ones are cut). Default 1024.
    pub max_len: usize,
    /// Seed for the split, shuffling, LoRA init and dropout. Default 0.
    pub seed: u64,
    /// Checkpoint every this many steps (and at the end); 0 = only at the end.
    /// Default 100.
    pub save_every: u64,
    /// Checkpoints kept. Default 2.
    pub keep_last: usize,
    /// Held-out loss every this many steps (and at the end); 0 = never. Default 50.
    pub eval_every: u64,
    /// Expected fraction of problems held out for eval loss. Default 0.05.
    pub eval_fraction: f64,
    /// Skip and count bad records instead of stopping at the first. Default false.
    pub lenient: bool,
    /// Also write the LoRA adapter merged into the base weights to `OUT/merged/`.
    /// Default false.
    pub merge: bool,
    /// Stop after this many steps in this invocation (a later run resumes); `Some(0)`
    /// only checks the inputs and evaluates the starting model. Default none.
    pub max_steps: Option<u64>,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            model: PathBuf::new(),
            data: PathBuf::new(),
            out: PathBuf::new(),
            full: false,
            lora_rank: 16,
            lora_alpha: 32.0,
            lora_dropout: 0.05,
            lora_targets: LoraTarget::ALL.to_vec(),
            epochs: 1,
            batch_size: 4,
            grad_accum: 1,
            lr: 2e-4,
            weight_decay: 0.0,
            warmup_steps: 0,
            decay: Decay::Cosine,
            max_grad_norm: 1.0,
            max_len: 1024,
            seed: 0,
            save_every: 100,
            keep_last: 2,
            eval_every: 50,
            eval_fraction: 0.05,
            lenient: false,
            merge: false,
            max_steps: None,
        }
    }
}

/// The projection named `name` (`"q_proj"`, ...).
pub fn parse_target(name: &str) -> Result<LoraTarget> {
    LoraTarget::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            let all: Vec<&str> = LoraTarget::ALL.iter().map(|t| t.name()).collect();
            SftError::InvalidArgument(format!(
                "unknown LoRA target `{name}` (expected one of {})",
                all.join(", ")
            ))
        })
}

impl FinetuneConfig {
    /// The LoRA settings, or `None` for full fine-tuning.
    pub fn lora(&self) -> Option<LoraConfig> {
        (!self.full).then(|| LoraConfig {
            rank: self.lora_rank,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            targets: self.lora_targets.clone(),
            seed: self.seed,
        })
    }

    /// The training-loop settings.
    pub fn train_config(&self, pad_id: u32) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            grad_accum: self.grad_accum,
            adamw: AdamWConfig {
                lr: self.lr,
                weight_decay: self.weight_decay,
                ..AdamWConfig::default()
            },
            warmup_steps: self.warmup_steps,
            decay: self.decay,
            max_grad_norm: (self.max_grad_norm > 0.0).then_some(self.max_grad_norm),
            seed: self.seed,
            save_every: self.save_every,
            keep_last: self.keep_last,
            eval_every: self.eval_every,
            pad_id,
        }
    }

    /// Checks every setting that can be checked without reading files.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SftError::InvalidArgument(m));
        for (name, p) in [
            ("model", &self.model),
            ("data", &self.data),
            ("out", &self.out),
        ] {
            if p.as_os_str().is_empty() {
                return bad(format!("`{name}` is required"));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "learning rate {} must be positive and finite",
                self.lr
            ));
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm >= 0.0) {
            return bad(format!(
                "max-grad-norm {} must be finite and not negative",
                self.max_grad_norm
            ));
        }
        if !(0.0..1.0).contains(&self.eval_fraction) {
            return bad(format!(
                "eval-fraction {} must be in [0, 1)",
                self.eval_fraction
            ));
        }
        if self.max_len < 2 {
            return bad(format!("max-len {} must be at least 2", self.max_len));
        }
        if let Some(lc) = self.lora() {
            if lc.targets.is_empty() {
                return bad("lora-targets must name at least one projection".into());
            }
            lc.validate()?;
        } else if self.merge {
            return bad("--merge applies to LoRA; full fine-tuning writes the model itself".into());
        }
        self.train_config(0).validate()
    }
}

/// What [`finetune`] reports while it runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Data and model are ready; training starts at `start_step`.
    Start {
        /// Steps already done (resumed from a checkpoint), 0 for a fresh run.
        start_step: u64,
        /// Total optimizer steps of the run.
        total_steps: u64,
        /// Training examples.
        train_examples: usize,
        /// Held-out examples.
        eval_examples: usize,
        /// Bad records skipped (lenient mode).
        skipped: usize,
    },
    /// The starting model's held-out metrics (fresh runs with held-out data and eval
    /// on; a resumed run reports the ones it saved).
    StartEval(&'a StartEval),
    /// One optimizer step finished.
    Step(&'a StepMetrics),
}

/// What a finished [`finetune`] did.
#[derive(Debug, Clone)]
pub struct FinetuneSummary {
    /// The step the run resumed from, if it did.
    pub resumed_from: Option<u64>,
    /// The starting model's held-out metrics, when there were held-out data and eval
    /// was on.
    pub start_eval: Option<StartEval>,
    /// Steps run in this invocation.
    pub steps_run: u64,
    /// Steps completed in total.
    pub step: u64,
    /// Total optimizer steps of the run.
    pub total_steps: u64,
    /// Training examples.
    pub train_examples: usize,
    /// Held-out examples.
    pub eval_examples: usize,
    /// Bad records skipped (lenient mode).
    pub skipped: Vec<BadRecord>,
    /// Metrics of the last step run in this invocation.
    pub last: Option<StepMetrics>,
    /// Where the adapter (LoRA) or the model (full) was written, once training is
    /// complete; `None` when stopped early by `max_steps`.
    pub output: Option<PathBuf>,
    /// Where the merged model was written (`merge`).
    pub merged: Option<PathBuf>,
}

/// The device training runs on: CUDA device 0 when built with the `cuda` feature, the
/// CPU otherwise. A CUDA build on a machine whose driver library cannot be loaded gets
/// [`SftError::NoCuda`] (candle's bindings would panic).
pub fn device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        // SAFETY: this only tries to open the driver library (dlopen); nothing from it
        // is called.
        #[allow(unsafe_code)]
        let present = unsafe { cudarc::driver::sys::is_culib_present() };
        if !present {
            return Err(SftError::NoCuda(
                "this build uses CUDA (`--features cuda`), but the CUDA driver library \
                 (libcuda.so.1) cannot be loaded: install the NVIDIA driver, add its \
                 folder to LD_LIBRARY_PATH, or use a build without `cuda`"
                    .into(),
            ));
        }
        Ok(Device::new_cuda(0)?)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(Device::Cpu)
    }
}

/// Loads a GGUF file or a Hugging Face directory.
pub fn load_model(path: &Path, mode: &TrainMode, device: &Device) -> Result<CausalLm> {
    let (config, weights) = if path.is_dir() {
        crate::weights::load_hf_dir(path, device)?
    } else {
        crate::gguf::load_gguf(path, device)?
    };
    CausalLm::from_weights(config, &weights, mode, device)
}

/// The model's tokenizer and the data prepared with it (chat template, masks,
/// train/eval split), as a run of `cfg` sees them.
pub fn prepare_data(cfg: &FinetuneConfig) -> Result<(ChatTokenizer, Prepared)> {
    if !cfg.model.exists() {
        return Err(SftError::Io {
            path: cfg.model.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model"),
        });
    }
    let tok = ChatTokenizer::from_model_path(&cfg.model)?;
    let prepared = prepare_file(
        &cfg.data,
        &tok,
        &PrepareOptions {
            max_len: cfg.max_len,
            lenient: cfg.lenient,
            eval_fraction: cfg.eval_fraction,
            seed: cfg.seed,
        },
    )?;
    if prepared.train.is_empty() {
        return Err(SftError::InvalidArgument(format!(
            "{}: no training examples ({} held out, {} skipped)",
            cfg.data.display(),
            prepared.eval.len(),
            prepared.skipped.len()
        )));
    }
    Ok((tok, prepared))
}

/// Runs (or resumes) the fine-tuning described by `cfg`, calling `progress` when
/// training starts and after every step. Every input is checked before the first
/// step: settings, model and tokenizer, every data record, and any checkpoint
/// already in the output directory.
pub fn finetune(
    cfg: &FinetuneConfig,
    progress: impl FnMut(Progress<'_>),
) -> Result<FinetuneSummary> {
    finetune_with(cfg, |_, _, _| Ok(Box::new(CrossEntropy)), progress)
}

/// [`finetune`] minimizing another objective: `make_objective` is called once the
/// data, tokenizer and model are ready (and before anything is written), so it can
/// check them against its own inputs (e.g. a teacher's vocabulary).
pub fn finetune_with(
    cfg: &FinetuneConfig,
    make_objective: impl FnOnce(&Prepared, &ChatTokenizer, &CausalLm) -> Result<Box<dyn Objective>>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<FinetuneSummary> {
    cfg.validate()?;
    let (tok, prepared) = prepare_data(cfg)?;
    let mode = match cfg.lora() {
        Some(lc) => TrainMode::Lora(lc),
        None => TrainMode::Full,
    };
    let device = device()?;
    let model = load_model(&cfg.model, &mode, &device)?;
    if let Some(bad) = prepared
        .train
        .iter()
        .chain(&prepared.eval)
        .flat_map(|e| &e.input_ids)
        .find(|&&id| id as usize >= model.config.vocab_size)
    {
        return Err(SftError::InvalidArgument(format!(
            "token id {bad} is outside the model's vocabulary of {}: tokenizer and weights do not match",
            model.config.vocab_size
        )));
    }
    let objective = make_objective(&prepared, &tok, &model)?;
    check_run_record(&cfg.out, &run_record(&model, &prepared)?)?;
    let pad_id = tok.eos_id.unwrap_or(0);
    let mut trainer = Trainer::with_objective(
        model,
        objective,
        cfg.train_config(pad_id),
        prepared.train.len(),
        &cfg.out,
    )?;
    let resumed_from = trainer.resume()?;
    let start = trainer.step();
    let total = trainer.total_steps();
    progress(Progress::Start {
        start_step: start,
        total_steps: total,
        train_examples: prepared.train.len(),
        eval_examples: prepared.eval.len(),
        skipped: prepared.skipped.len(),
    });
    let start_eval = start_eval(&mut trainer, &prepared.eval, cfg.eval_every, &cfg.out)?;
    if let Some(e) = &start_eval {
        progress(Progress::StartEval(e));
    }
    let end = match cfg.max_steps {
        Some(n) => (start + n).min(total),
        None => total,
    };
    let mut last = None;
    while trainer.step() < end {
        for m in trainer.run(&prepared.train, &prepared.eval, Some(1))? {
            progress(Progress::Step(&m));
            last = Some(m);
        }
    }
    let step = trainer.step();
    // stopped early between checkpoints: save, so the next run resumes here
    if step < total && step > start && (cfg.save_every == 0 || !step.is_multiple_of(cfg.save_every))
    {
        trainer.save()?;
    }
    let (mut output, mut merged) = (None, None);
    if step == total {
        let mut model = trainer.model().clone();
        match cfg.lora() {
            Some(lc) => {
                crate::peft::save_adapter(&model, &lc, &cfg.out)?;
                output = Some(cfg.out.clone());
                if cfg.merge {
                    model.merge_lora()?;
                    let dir = cfg.out.join("merged");
                    save_model_dir(&model, &tok, &cfg.model, &dir)?;
                    merged = Some(dir);
                }
            }
            None => {
                let dir = cfg.out.join("model");
                save_model_dir(&model, &tok, &cfg.model, &dir)?;
                output = Some(dir);
            }
        }
    }
    Ok(FinetuneSummary {
        resumed_from,
        start_eval,
        steps_run: step - start,
        step,
        total_steps: total,
        train_examples: prepared.train.len(),
        eval_examples: prepared.eval.len(),
        skipped: prepared.skipped,
        last,
        output,
        merged,
    })
}

/// Writes `model` as a Hugging Face directory with tokenizer files: copied from a
/// Hugging Face source, or (from a GGUF source) `tokenizer.json` plus a
/// `tokenizer_config.json` carrying the chat template and special tokens.
pub fn save_model_dir(
    model: &CausalLm,
    tok: &ChatTokenizer,
    source: &Path,
    dir: &Path,
) -> Result<()> {
    crate::weights::save_hf_dir(model, dir)?;
    if source.is_dir() {
        crate::weights::copy_tokenizer_files(source, dir)?;
        return Ok(());
    }
    let path = dir.join("tokenizer.json");
    tok.tokenizer
        .save(&path, false)
        .map_err(|e| SftError::Tokenizer {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let cfg = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": tok.bos_token,
        "eos_token": tok.eos_token,
        "chat_template": tok.template_source,
    });
    let path = dir.join("tokenizer_config.json");
    let text =
        serde_json::to_string_pretty(&cfg).map_err(|e| SftError::InvalidArgument(e.to_string()))?;
    std::fs::write(&path, text).map_err(|source| SftError::Io { path, source })
}

/// The file in the output directory that ties its checkpoints to one model and one
/// data set (the trainer's own fingerprint covers the settings and shapes).
pub const RUN_RECORD: &str = "run.json";

/// What must match for a run directory to be resumed: the model's config and a digest
/// of every prepared example (tokens, masks, train/eval side).
fn run_record(model: &CausalLm, prepared: &Prepared) -> Result<serde_json::Value> {
    let config = serde_json::to_value(&model.config)
        .map_err(|e| SftError::InvalidArgument(e.to_string()))?;
    Ok(
        serde_json::json!({ "version": 1, "model_config": config, "data_digest": prepared.digest() }),
    )
}

/// Refuses an output directory whose checkpoints were trained on another model or
/// other data; records this run's identity otherwise.
fn check_run_record(out: &Path, record: &serde_json::Value) -> Result<()> {
    let path = out.join(RUN_RECORD);
    let has_checkpoints = !crate::checkpoint::list(out)?.is_empty();
    if has_checkpoints && let Ok(text) = std::fs::read_to_string(&path) {
        let old: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| SftError::Checkpoint {
                path: path.clone(),
                message: e.to_string(),
            })?;
        for (key, what) in [("model_config", "model"), ("data_digest", "data")] {
            if old.get(key) != record.get(key) {
                return Err(SftError::Checkpoint {
                    path: out.to_path_buf(),
                    message: format!(
                        "its checkpoints were trained on another {what}; use a new --out"
                    ),
                });
            }
        }
        return Ok(());
    }
    let io = |source| SftError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(out).map_err(io)?;
    let text = serde_json::to_string_pretty(record)
        .map_err(|e| SftError::InvalidArgument(e.to_string()))?;
    std::fs::write(&path, text).map_err(io)
}
