//! DPO end to end from one settings struct: validate, load the model (GGUF file or
//! Hugging Face directory, optionally with a starting LoRA adapter) and its tokenizer,
//! tokenize the pairs, get the reference log-probs (cache or one pass), resume from
//! the newest checkpoint in the output directory, train, and write the PEFT adapter
//! (LoRA) or the full model.
//!
//! Output directory: `metrics.jsonl`, `checkpoint-{step}/`, `ref_logps/{key}.json`,
//! `run.json`, then `adapter_config.json` + `adapter_model.safetensors` (LoRA) or
//! `model/` (full fine-tuning).

use crate::error::{DpoError, Result};
use crate::loss::{LossKind, LossTerm, PreferenceLossConfig};
use crate::pairs::{PairOptions, PrepareReport, Truncation, prepare_pairs};
use crate::reference::{
    CacheKeyInputs, CacheStatus, cache_key, compute_reference, load_or_compute,
};
use crate::trainer::{DpoStepMetrics, DpoTrainer, EvalMetrics};
use datasets::BadRecord;
use serde::{Deserialize, Serialize};
use sft::finetune::load_model;
use sft::lora::{LoraConfig, LoraTarget};
use sft::prepare::ChatTokenizer;
use sft::{AdamWConfig, Decay, TrainConfig, TrainMode};
use std::path::{Path, PathBuf};

/// Every setting of a DPO run. TOML/JSON keys are the CLI flags' names (`lora-rank`,
/// `loss-weights`, ...); absent keys take the defaults below; unknown keys are an
/// error. Relative paths are taken from the working directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DpoConfig {
    /// The starting model: a GGUF file or a Hugging Face directory. Required.
    pub model: PathBuf,
    /// A LoRA adapter (PEFT layout, e.g. `distill sft`'s output) to start from; it
    /// keeps training, and the reference is the model with it. Default none.
    pub adapter: Option<PathBuf>,
    /// Preference data (JSONL; TRL's preference shapes or ours). Required.
    pub data: PathBuf,
    /// Output directory. Required.
    pub out: PathBuf,
    /// Train every weight instead of a LoRA adapter. Default false.
    pub full: bool,
    /// LoRA rank (ignored with `adapter`). Default 16.
    pub lora_rank: usize,
    /// LoRA alpha. Default 32.
    pub lora_alpha: f64,
    /// Dropout on the adapter input. Default 0.05.
    pub lora_dropout: f32,
    /// Projections that get adapters. Default all seven.
    pub lora_targets: Vec<LoraTarget>,
    /// β. Default 0.1.
    pub beta: f64,
    /// Loss terms (`sigmoid`, `ipo`, `hinge`, `robust`, `cdpo`, `sigmoid_norm`,
    /// `sft`). Default `[sigmoid]`.
    pub loss: Vec<LossKind>,
    /// One weight per loss term; empty = 1.0 each. Default empty.
    pub loss_weights: Vec<f64>,
    /// ε for `robust` and `cdpo`. Default 0.
    pub label_smoothing: f64,
    /// Passes over the training pairs. Default 1.
    pub epochs: u64,
    /// Pairs per micro-batch. Default 4.
    pub batch_size: usize,
    /// Micro-batches per optimizer step. Default 1.
    pub grad_accum: usize,
    /// Peak learning rate. Default 5e-5.
    pub lr: f64,
    /// Decoupled weight decay. Default 0.
    pub weight_decay: f64,
    /// Warmup steps. Default 0.
    pub warmup_steps: u64,
    /// Decay after warmup. Default cosine.
    pub decay: Decay,
    /// Global gradient-norm limit; 0 disables clipping. Default 1.0.
    pub max_grad_norm: f64,
    /// Most tokens in prompt + completion. Default 1024.
    pub max_len: usize,
    /// Most prompt tokens kept (the end is kept); default `max-len / 2`.
    pub max_prompt_len: Option<usize>,
    /// `keep-end` (cut long prompts at the front, long completions at the end) or
    /// `reject` (a pair that does not fit is a bad pair). Default keep-end.
    pub truncation: Truncation,
    /// Leave formatting tokens out of the summed log-probs (Llama 3). Default false.
    pub mask_format_tokens: bool,
    /// Seed for the split, shuffling, LoRA init and dropout. Default 0.
    pub seed: u64,
    /// Checkpoint every this many steps (and at the end); 0 = only at the end.
    /// Default 100.
    pub save_every: u64,
    /// Checkpoints kept. Default 2.
    pub keep_last: usize,
    /// Held-out metrics every this many steps (and at the end); 0 = never. Default 50.
    pub eval_every: u64,
    /// Expected fraction of problems held out. Default 0.05.
    pub eval_fraction: f64,
    /// Skip and count bad pairs instead of stopping at the first. Default false.
    pub lenient: bool,
    /// Stop after this many steps in this invocation (a later run resumes). Default
    /// none.
    pub max_steps: Option<u64>,
    /// Directory of the reference log-prob cache. Default `OUT/ref_logps`.
    pub ref_cache: Option<PathBuf>,
}

impl Default for DpoConfig {
    fn default() -> Self {
        DpoConfig {
            model: PathBuf::new(),
            adapter: None,
            data: PathBuf::new(),
            out: PathBuf::new(),
            full: false,
            lora_rank: 16,
            lora_alpha: 32.0,
            lora_dropout: 0.05,
            lora_targets: LoraTarget::ALL.to_vec(),
            beta: 0.1,
            loss: vec![LossKind::Sigmoid],
            loss_weights: Vec::new(),
            label_smoothing: 0.0,
            epochs: 1,
            batch_size: 4,
            grad_accum: 1,
            lr: 5e-5,
            weight_decay: 0.0,
            warmup_steps: 0,
            decay: Decay::Cosine,
            max_grad_norm: 1.0,
            max_len: 1024,
            max_prompt_len: None,
            truncation: Truncation::KeepEnd,
            mask_format_tokens: false,
            seed: 0,
            save_every: 100,
            keep_last: 2,
            eval_every: 50,
            eval_fraction: 0.05,
            lenient: false,
            max_steps: None,
            ref_cache: None,
        }
    }
}

impl DpoConfig {
    /// The preference-loss settings.
    pub fn loss_config(&self) -> Result<PreferenceLossConfig> {
        let weights = if self.loss_weights.is_empty() {
            vec![1.0; self.loss.len()]
        } else {
            self.loss_weights.clone()
        };
        if weights.len() != self.loss.len() {
            return Err(DpoError::InvalidConfig(format!(
                "{} loss types but {} loss weights",
                self.loss.len(),
                weights.len()
            )));
        }
        let cfg = PreferenceLossConfig {
            beta: self.beta,
            label_smoothing: self.label_smoothing,
            terms: self
                .loss
                .iter()
                .zip(weights)
                .map(|(&kind, weight)| LossTerm { kind, weight })
                .collect(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The tokenizing options.
    pub fn pair_options(&self) -> PairOptions {
        PairOptions {
            max_len: self.max_len,
            max_prompt_len: self.max_prompt_len,
            truncation: self.truncation,
            mask_format_tokens: self.mask_format_tokens,
            lenient: self.lenient,
            eval_fraction: self.eval_fraction,
            seed: self.seed,
        }
    }

    /// The LoRA settings of a fresh adapter, or `None` for full fine-tuning.
    pub fn lora(&self) -> Option<LoraConfig> {
        (!self.full).then(|| LoraConfig {
            rank: self.lora_rank,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            targets: self.lora_targets.clone(),
            seed: self.seed,
        })
    }

    /// The training-loop settings (`batch_size` counts pairs).
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
        let bad = |m: String| Err(DpoError::InvalidConfig(m));
        for (name, p) in [
            ("model", &self.model),
            ("data", &self.data),
            ("out", &self.out),
        ] {
            if p.as_os_str().is_empty() {
                return bad(format!("`{name}` is required"));
            }
        }
        if self.full && self.adapter.is_some() {
            return bad("--adapter continues a LoRA adapter; it cannot go with --full".into());
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
        if self.max_steps == Some(0) {
            return bad("max-steps must be positive".into());
        }
        if let Some(lc) = self.lora()
            && self.adapter.is_none()
        {
            if lc.targets.is_empty() {
                return bad("lora-targets must name at least one projection".into());
            }
            lc.validate()?;
        }
        self.loss_config()?;
        self.pair_options().validate()?;
        Ok(self.train_config(0).validate()?)
    }
}

/// What [`train_dpo`] reports while it runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The pairs are tokenized.
    Data {
        /// Training pairs.
        train_pairs: usize,
        /// Held-out pairs.
        eval_pairs: usize,
        /// Bad pairs skipped (lenient mode).
        skipped: usize,
        /// Truncation counts.
        report: &'a PrepareReport,
    },
    /// Pairs done in the reference pass so far.
    Reference {
        /// Pairs done.
        done: usize,
        /// All pairs.
        total: usize,
    },
    /// Reference log-probs are ready; training starts at `start_step`.
    Start {
        /// Where the reference came from.
        reference: &'a CacheStatus,
        /// Steps already done (resumed), 0 for a fresh run.
        start_step: u64,
        /// Total optimizer steps.
        total_steps: u64,
        /// Held-out metrics of the starting model, when there are held-out pairs and
        /// the run starts at step 0.
        initial_eval: Option<&'a EvalMetrics>,
    },
    /// One optimizer step finished.
    Step(&'a DpoStepMetrics),
}

/// What a finished [`train_dpo`] did.
#[derive(Debug, Clone)]
pub struct DpoSummary {
    /// Where the reference log-probs came from (cache hit, or a pass over N pairs).
    pub reference: CacheStatus,
    /// The step the run resumed from, if it did.
    pub resumed_from: Option<u64>,
    /// Steps run in this invocation.
    pub steps_run: u64,
    /// Steps completed in total.
    pub step: u64,
    /// Total optimizer steps.
    pub total_steps: u64,
    /// Training pairs.
    pub train_pairs: usize,
    /// Held-out pairs.
    pub eval_pairs: usize,
    /// Bad pairs skipped (lenient mode).
    pub skipped: Vec<BadRecord>,
    /// Truncation counts.
    pub truncation: PrepareReport,
    /// Held-out metrics of the starting model (fresh runs with held-out pairs).
    pub initial_eval: Option<EvalMetrics>,
    /// Held-out metrics after the last step run (with held-out pairs).
    pub final_eval: Option<EvalMetrics>,
    /// Metrics of every step run in this invocation.
    pub steps: Vec<DpoStepMetrics>,
    /// Where the adapter (LoRA) or model (full) was written once training completed.
    pub output: Option<PathBuf>,
}

/// Refuses an output directory whose checkpoints belong to other inputs; records
/// this run's identity otherwise.
fn check_run_record(out: &Path, key: &str) -> Result<()> {
    let path = out.join("run.json");
    let io = |source| DpoError::Io {
        path: path.clone(),
        source,
    };
    let has_checkpoints = !sft::checkpoint::list(out)?.is_empty();
    if has_checkpoints && let Ok(text) = std::fs::read_to_string(&path) {
        let old: serde_json::Value = serde_json::from_str(&text).map_err(|e| DpoError::Resume {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if old.get("inputs").and_then(|v| v.as_str()) != Some(key) {
            return Err(DpoError::Resume {
                path: out.to_path_buf(),
                message: "its checkpoints were trained on another model, data or tokenizing options; use a new --out".into(),
            });
        }
        return Ok(());
    }
    std::fs::create_dir_all(out).map_err(io)?;
    let v = serde_json::json!({ "version": 1, "trainer": "dpo", "inputs": key });
    std::fs::write(&path, v.to_string()).map_err(io)
}

/// Runs (or resumes) the DPO training described by `cfg`, calling `progress` along
/// the way. Every input is checked before the first step.
pub fn train_dpo(cfg: &DpoConfig, mut progress: impl FnMut(Progress<'_>)) -> Result<DpoSummary> {
    cfg.validate()?;
    let loss = cfg.loss_config()?;
    for p in [Some(&cfg.model), Some(&cfg.data), cfg.adapter.as_ref()]
        .into_iter()
        .flatten()
    {
        if !p.exists() {
            return Err(DpoError::Io {
                path: p.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
            });
        }
    }
    let tok = ChatTokenizer::from_model_path(&cfg.model)?;
    let opts = cfg.pair_options();
    let prepared = prepare_pairs(&cfg.data, &tok, &opts)?;
    progress(Progress::Data {
        train_pairs: prepared.train.len(),
        eval_pairs: prepared.eval.len(),
        skipped: prepared.skipped.len(),
        report: &prepared.report,
    });
    if prepared.train.is_empty() {
        return Err(DpoError::InvalidInput(format!(
            "{}: no training pairs ({} held out, {} skipped)",
            cfg.data.display(),
            prepared.eval.len(),
            prepared.skipped.len()
        )));
    }
    let device = sft::finetune::device()?;
    let (model, lora) = match (&cfg.adapter, cfg.lora()) {
        (Some(dir), _) => {
            let mut m = load_model(&cfg.model, &TrainMode::Frozen, &device)?;
            let lc = sft::peft::load_adapter(&mut m, dir)?;
            (m, Some(lc))
        }
        (None, Some(lc)) => (
            load_model(&cfg.model, &TrainMode::Lora(lc.clone()), &device)?,
            Some(lc),
        ),
        (None, None) => (load_model(&cfg.model, &TrainMode::Full, &device)?, None),
    };
    let vocab = model.config.vocab_size;
    if let Some(bad) = prepared
        .train
        .iter()
        .chain(&prepared.eval)
        .flat_map(|p| {
            p.prompt_ids
                .iter()
                .chain(&p.chosen_ids)
                .chain(&p.rejected_ids)
        })
        .find(|&&id| id as usize >= vocab)
    {
        return Err(DpoError::InvalidInput(format!(
            "token id {bad} is outside the model's vocabulary of {vocab}: tokenizer and weights do not match"
        )));
    }
    let tokenizer_json = tok
        .tokenizer
        .to_string(false)
        .map_err(|e| DpoError::InvalidInput(format!("tokenizer: {e}")))?;
    let key = cache_key(&CacheKeyInputs {
        model: &cfg.model,
        adapter: cfg.adapter.as_deref(),
        data: &cfg.data,
        tokenizer_json: &tokenizer_json,
        template: &tok.template_source,
        options: serde_json::to_value(&opts).map_err(|e| DpoError::InvalidInput(e.to_string()))?,
        pairs: [&prepared.train, &prepared.eval],
    })?;
    check_run_record(&cfg.out, &key)?;
    let pad_id = tok.eos_id.unwrap_or(0);
    let cache_dir = cfg
        .ref_cache
        .clone()
        .unwrap_or_else(|| cfg.out.join("ref_logps"));
    let total_pairs = prepared.train.len() + prepared.eval.len();
    // the reference pass runs on the starting weights, before any checkpoint is loaded
    let (train_ref, eval_ref, reference) = load_or_compute(
        &cache_dir,
        &key,
        prepared.train.len(),
        prepared.eval.len(),
        || {
            let n = prepared.train.len();
            let train = compute_reference(&model, &prepared.train, cfg.batch_size, pad_id, |d| {
                progress(Progress::Reference {
                    done: d,
                    total: total_pairs,
                })
            })?;
            let eval = compute_reference(&model, &prepared.eval, cfg.batch_size, pad_id, |d| {
                progress(Progress::Reference {
                    done: n + d,
                    total: total_pairs,
                })
            })?;
            Ok((train, eval))
        },
    )?;
    let mut trainer = DpoTrainer::new(
        model,
        cfg.train_config(pad_id),
        loss,
        prepared.train.len(),
        &cfg.out,
        &key,
    )?;
    let resumed_from = trainer.resume()?;
    let start = trainer.step();
    let total = trainer.total_steps();
    let initial_eval = if start == 0 && !prepared.eval.is_empty() {
        Some(trainer.evaluate(&prepared.eval, &eval_ref)?)
    } else {
        None
    };
    progress(Progress::Start {
        reference: &reference,
        start_step: start,
        total_steps: total,
        initial_eval: initial_eval.as_ref(),
    });
    let end = match cfg.max_steps {
        Some(n) => (start + n).min(total),
        None => total,
    };
    let mut steps = Vec::new();
    while trainer.step() < end {
        for m in trainer.run(
            &prepared.train,
            &train_ref,
            &prepared.eval,
            &eval_ref,
            Some(1),
        )? {
            progress(Progress::Step(&m));
            steps.push(m);
        }
    }
    let step = trainer.step();
    if step < total && step > start && (cfg.save_every == 0 || !step.is_multiple_of(cfg.save_every))
    {
        trainer.save()?;
    }
    let final_eval = match steps.last().and_then(|m| m.eval.clone()) {
        Some(e) => Some(e),
        None if !prepared.eval.is_empty() && step > start => {
            Some(trainer.evaluate(&prepared.eval, &eval_ref)?)
        }
        None => None,
    };
    let mut output = None;
    if step == total {
        let model = trainer.model();
        match &lora {
            Some(lc) => {
                sft::peft::save_adapter(model, lc, &cfg.out)?;
                output = Some(cfg.out.clone());
            }
            None => {
                let dir = cfg.out.join("model");
                sft::finetune::save_model_dir(model, &tok, &cfg.model, &dir)?;
                output = Some(dir);
            }
        }
    }
    Ok(DpoSummary {
        reference,
        resumed_from,
        steps_run: step - start,
        step,
        total_steps: total,
        train_pairs: prepared.train.len(),
        eval_pairs: prepared.eval.len(),
        skipped: prepared.skipped,
        truncation: prepared.report,
        initial_eval,
        final_eval,
        steps,
        output,
    })
}
