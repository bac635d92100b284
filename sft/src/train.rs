//! The training loop: shuffled batches, gradient accumulation normalized by trained
//! tokens, clipping, AdamW on the warmup schedule, held-out eval, `metrics.jsonl`
//! with TRL's names, and checkpoints that resume exactly.

use crate::checkpoint::{self, CHECKPOINT_VERSION, TrainState};
use crate::clip::clip_grad_norm;
use crate::data::{Example, collate};
use crate::error::{Result, SftError};
use crate::linear::ForwardCtx;
use crate::model::CausalLm;
use crate::objective::{CrossEntropy, ExampleKey, Objective, Split};
use crate::optim::{AdamW, AdamWConfig};
use crate::rng::Rng;
use crate::schedule::{Decay, Schedule};
use candle_core::Var;
use candle_core::backprop::GradStore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the data. Default 1.
    pub epochs: u64,
    /// Examples per micro-batch. Default 4.
    pub batch_size: usize,
    /// Micro-batches per optimizer step. Default 1.
    pub grad_accum: usize,
    /// Optimizer settings (its `lr` is the schedule's peak). Default [`AdamWConfig::default`].
    pub adamw: AdamWConfig,
    /// Warmup steps. Default 0.
    pub warmup_steps: u64,
    /// Decay after warmup. Default cosine.
    pub decay: Decay,
    /// Global gradient-norm limit; `None` disables clipping. Default `Some(1.0)`.
    pub max_grad_norm: Option<f64>,
    /// Seed for shuffling and dropout. Default 0.
    pub seed: u64,
    /// Checkpoint every this many steps (and at the end); 0 = only at the end. Default 0.
    pub save_every: u64,
    /// Checkpoints kept. Default 2.
    pub keep_last: usize,
    /// Held-out loss every this many steps (and at the end); 0 = never. Default 0.
    pub eval_every: u64,
    /// Padding token id. Default 0.
    pub pad_id: u32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 1,
            batch_size: 4,
            grad_accum: 1,
            adamw: AdamWConfig::default(),
            warmup_steps: 0,
            decay: Decay::Cosine,
            max_grad_norm: Some(1.0),
            seed: 0,
            save_every: 0,
            keep_last: 2,
            eval_every: 0,
            pad_id: 0,
        }
    }
}

impl TrainConfig {
    /// Rejects settings that cannot train.
    pub fn validate(&self) -> Result<()> {
        self.adamw.validate()?;
        let bad = |m: &str| Err(SftError::InvalidArgument(m.to_string()));
        if self.epochs == 0 || self.batch_size == 0 || self.grad_accum == 0 {
            return bad("epochs, batch_size and grad_accum must be positive");
        }
        if let Some(c) = self.max_grad_norm
            && !(c.is_finite() && c > 0.0)
        {
            return bad("max_grad_norm must be positive and finite");
        }
        Ok(())
    }
}

/// One step's metrics, named as TRL logs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Optimizer step (1-based).
    pub step: u64,
    /// Mean loss over the step's trained tokens.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used for this step.
    pub learning_rate: f64,
    /// Trained tokens seen so far.
    pub num_tokens: u64,
    /// Argmax accuracy on the step's trained tokens.
    pub mean_token_accuracy: f64,
    /// Fractional epoch after this step.
    pub epoch: f64,
    /// Held-out loss, on steps where it was computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_loss: Option<f64>,
    /// Trained tokens per second over this step.
    pub tokens_per_sec: f64,
    /// Peak resident memory of the process so far, in bytes (Linux `VmHWM`; absent
    /// elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// The objective's further metrics (e.g. `kd_loss`, `ce_loss`, and their
    /// `eval_` forms on eval steps); empty for plain SFT.
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Trains a model, writing metrics and checkpoints into an output directory.
pub struct Trainer {
    model: CausalLm,
    objective: Box<dyn Objective>,
    cfg: TrainConfig,
    opt: AdamW,
    schedule: Schedule,
    state: TrainState,
    out: PathBuf,
    n_examples: usize,
    steps_per_epoch: u64,
}

impl Trainer {
    /// A supervised fine-tuning trainer (masked cross-entropy) for `n_examples`
    /// training examples; nothing is read or written yet.
    pub fn new(model: CausalLm, cfg: TrainConfig, n_examples: usize, out: &Path) -> Result<Self> {
        Self::with_objective(model, Box::new(CrossEntropy), cfg, n_examples, out)
    }

    /// A trainer minimizing `objective` for `n_examples` training examples.
    pub fn with_objective(
        model: CausalLm,
        objective: Box<dyn Objective>,
        cfg: TrainConfig,
        n_examples: usize,
        out: &Path,
    ) -> Result<Self> {
        cfg.validate()?;
        if n_examples == 0 {
            return Err(SftError::InvalidArgument("no training examples".into()));
        }
        if model.trainable().is_empty() {
            return Err(SftError::InvalidArgument(
                "the model has nothing to train".into(),
            ));
        }
        let per_step = cfg.batch_size * cfg.grad_accum;
        let steps_per_epoch = n_examples.div_ceil(per_step) as u64;
        let schedule = Schedule {
            peak_lr: cfg.adamw.lr,
            warmup_steps: cfg.warmup_steps,
            total_steps: steps_per_epoch * cfg.epochs,
            decay: cfg.decay,
        };
        let opt = AdamW::new(model.trainable(), cfg.adamw)?;
        let fingerprint = fingerprint(&cfg, n_examples, &model, objective.fingerprint())?;
        let state = TrainState {
            version: CHECKPOINT_VERSION,
            step: 0,
            num_tokens: 0,
            rng: Rng::new(cfg.seed ^ 0x5EED_D80F),
            fingerprint,
        };
        Ok(Trainer {
            model,
            objective,
            cfg,
            opt,
            schedule,
            state,
            out: out.to_path_buf(),
            n_examples,
            steps_per_epoch,
        })
    }

    /// The model being trained.
    pub fn model(&self) -> &CausalLm {
        &self.model
    }

    /// Steps completed.
    pub fn step(&self) -> u64 {
        self.state.step
    }

    /// Total optimizer steps of the run.
    pub fn total_steps(&self) -> u64 {
        self.schedule.total_steps
    }

    /// Restores the newest complete checkpoint in the output directory, if any, and
    /// returns its step. A checkpoint from a different run is an error.
    pub fn resume(&mut self) -> Result<Option<u64>> {
        let Some(ck) = checkpoint::load_latest(&self.out, self.model.device())? else {
            return Ok(None);
        };
        if ck.state.fingerprint != self.state.fingerprint {
            return Err(SftError::Checkpoint {
                path: ck.dir,
                message: "it belongs to a run with other settings, data or parameters".into(),
            });
        }
        for (name, var) in self.model.trainable() {
            let t = ck
                .weights
                .get(name)
                .ok_or_else(|| SftError::MissingTensor(name.clone()))?;
            if t.dims() != var.dims() {
                return Err(SftError::TensorShape {
                    name: name.clone(),
                    expected: var.dims().to_vec(),
                    actual: t.dims().to_vec(),
                });
            }
            var.set(t)?;
        }
        self.opt.load_state(&ck.optimizer, ck.state.step)?;
        self.state = ck.state;
        truncate_metrics(&self.out.join("metrics.jsonl"), self.state.step)?;
        Ok(Some(self.state.step))
    }

    /// Trains until the end of the run, or until `stop_after` more steps. Metrics
    /// are appended to `OUT/metrics.jsonl` and returned.
    pub fn run(
        &mut self,
        train: &[Example],
        eval: &[Example],
        stop_after: Option<u64>,
    ) -> Result<Vec<StepMetrics>> {
        if train.len() != self.n_examples {
            return Err(SftError::InvalidArgument(format!(
                "the trainer was set up for {} examples, got {}",
                self.n_examples,
                train.len()
            )));
        }
        for (i, e) in train.iter().enumerate() {
            e.validate(i)?;
        }
        for (i, e) in eval.iter().enumerate() {
            e.validate(i)?;
        }
        std::fs::create_dir_all(&self.out).map_err(|source| SftError::Io {
            path: self.out.clone(),
            source,
        })?;
        let total = self.schedule.total_steps;
        let end = match stop_after {
            Some(n) => (self.state.step + n).min(total),
            None => total,
        };
        let mut all = Vec::new();
        while self.state.step < end {
            let mut m = self.train_step(train)?;
            let s = self.state.step;
            if self.cfg.eval_every > 0
                && !eval.is_empty()
                && (s.is_multiple_of(self.cfg.eval_every) || s == total)
            {
                let (loss, extra) = self.eval_metrics(eval)?;
                m.eval_loss = Some(loss);
                m.extra
                    .extend(extra.into_iter().map(|(k, v)| (format!("eval_{k}"), v)));
            }
            append_metrics(&self.out.join("metrics.jsonl"), &m)?;
            if (self.cfg.save_every > 0 && s.is_multiple_of(self.cfg.save_every)) || s == total {
                self.save()?;
            }
            all.push(m);
        }
        Ok(all)
    }

    /// Writes a checkpoint of the current step.
    pub fn save(&self) -> Result<PathBuf> {
        checkpoint::save(
            &self.out,
            &self.state,
            self.model.trainable(),
            &self.opt.state_tensors(),
            self.cfg.keep_last,
        )
    }

    /// The example indices of the step with 0-based index `step`: a per-epoch
    /// shuffle seeded by (seed, epoch), so the data position is a function of the step.
    fn step_examples(&self, step: u64) -> Vec<usize> {
        step_indices(
            self.cfg.seed,
            self.n_examples,
            self.cfg.batch_size * self.cfg.grad_accum,
            step,
        )
    }

    fn train_step(&mut self, train: &[Example]) -> Result<StepMetrics> {
        let t0 = Instant::now();
        let idx = self.step_examples(self.state.step);
        let picked: Vec<(Example, ExampleKey)> = idx
            .iter()
            .map(|&i| (train[i].clone(), Some((Split::Train, i))))
            .collect();
        let picked = self
            .objective
            .step_examples(&self.model, self.state.step, picked)?;
        // normalize by the step's trained tokens, whatever the micro-batch split
        let step_tokens: usize = picked.iter().map(|(e, _)| e.trained_tokens()).sum();
        let device = self.model.device().clone();
        let mut ctx = ForwardCtx::train(self.state.rng.clone());
        let mut acc: Option<GradStore> = None;
        let (mut loss_sum, mut hits, mut counted) = (0f64, 0usize, 0usize);
        let mut extra: BTreeMap<String, f64> = BTreeMap::new();
        for chunk in picked.chunks(self.cfg.batch_size) {
            let examples: Vec<&Example> = chunk.iter().map(|(e, _)| e).collect();
            let keys: Vec<ExampleKey> = chunk.iter().map(|(_, k)| *k).collect();
            let b = collate(&examples, self.cfg.pad_id, &device)?;
            let loss = self
                .objective
                .micro_batch(&self.model, &b, &keys, &mut ctx)?;
            loss_sum += f64::from(
                loss.sum
                    .to_dtype(candle_core::DType::F32)?
                    .to_scalar::<f32>()?,
            );
            hits += loss.hits;
            counted += loss.counted;
            for (k, v) in loss.extra {
                *extra.entry(k.to_string()).or_default() += v / step_tokens.max(1) as f64;
            }
            let grads = (loss.sum / step_tokens as f64)?.backward()?;
            acc = Some(accumulate_grads(acc, grads, self.model.trainable())?);
        }
        let mut grads = acc.ok_or_else(|| SftError::InvalidArgument("empty step".into()))?;
        let grad_norm = match self.cfg.max_grad_norm {
            Some(c) => clip_grad_norm(&mut grads, self.model.trainable(), c)?,
            None => crate::clip::grad_norm(&grads, self.model.trainable())?,
        };
        let lr = self.schedule.lr(self.state.step);
        self.opt.step(&grads, lr)?;
        self.state.step += 1;
        self.state.num_tokens += step_tokens as u64;
        self.state.rng = ctx.rng.unwrap_or_else(|| Rng::new(0));
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        Ok(StepMetrics {
            step: self.state.step,
            loss: loss_sum / step_tokens.max(1) as f64,
            grad_norm,
            learning_rate: lr,
            num_tokens: self.state.num_tokens,
            mean_token_accuracy: if counted > 0 {
                hits as f64 / counted as f64
            } else {
                0.0
            },
            epoch: self.state.step as f64 / self.steps_per_epoch as f64,
            eval_loss: None,
            tokens_per_sec: step_tokens as f64 / secs,
            peak_rss_bytes: peak_rss_bytes(),
            extra,
        })
    }

    /// Mean loss over the trained tokens of `examples`, without dropout.
    pub fn eval_loss(&mut self, examples: &[Example]) -> Result<f64> {
        Ok(self.eval_metrics(examples)?.0)
    }

    /// Mean loss over the trained tokens of the held-out `examples`, without dropout,
    /// and the objective's further metrics averaged the same way.
    pub fn eval_metrics(&mut self, examples: &[Example]) -> Result<(f64, BTreeMap<String, f64>)> {
        let (mut sum, mut tokens) = (0f64, 0usize);
        let mut extra: BTreeMap<String, f64> = BTreeMap::new();
        let keyed: Vec<(usize, &Example)> = examples.iter().enumerate().collect();
        for chunk in keyed.chunks(self.cfg.batch_size) {
            let refs: Vec<&Example> = chunk.iter().map(|(_, e)| *e).collect();
            let keys: Vec<ExampleKey> =
                chunk.iter().map(|(i, _)| Some((Split::Eval, *i))).collect();
            let b = collate(&refs, self.cfg.pad_id, self.model.device())?;
            let l = self
                .objective
                .micro_batch(&self.model, &b, &keys, &mut ForwardCtx::eval())?;
            sum += f64::from(
                l.sum
                    .to_dtype(candle_core::DType::F32)?
                    .to_scalar::<f32>()?,
            );
            tokens += b.tokens;
            for (k, v) in l.extra {
                *extra.entry(k.to_string()).or_default() += v;
            }
        }
        let n = tokens.max(1) as f64;
        extra.values_mut().for_each(|v| *v /= n);
        Ok((sum / n, extra))
    }
}

/// The example indices of the optimizer step with 0-based index `step`, `per_step`
/// at a time: a per-epoch shuffle of `0..n` seeded by (seed, epoch), so the data
/// position is a function of the step alone (what exact resume relies on). The last
/// step of an epoch may be short.
pub fn step_indices(seed: u64, n: usize, per_step: usize, step: u64) -> Vec<usize> {
    let per_step = per_step.max(1);
    let steps_per_epoch = n.div_ceil(per_step).max(1) as u64;
    let epoch = step / steps_per_epoch;
    let within = (step % steps_per_epoch) as usize;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(epoch));
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let start = (within * per_step).min(n);
    order[start..(start + per_step).min(n)].to_vec()
}

/// Adds a micro-batch's gradients of `params` to the running sum `acc` (gradient
/// accumulation); `None` starts a new sum.
pub fn accumulate_grads(
    acc: Option<GradStore>,
    mut grads: GradStore,
    params: &[(String, Var)],
) -> Result<GradStore> {
    let Some(mut a) = acc else {
        return Ok(grads);
    };
    for (_, v) in params {
        if let Some(gi) = grads.remove(v.as_tensor()) {
            let sum = match a.remove(v.as_tensor()) {
                Some(prev) => (prev + gi)?,
                None => gi,
            };
            a.insert(v.as_tensor(), sum);
        }
    }
    Ok(a)
}

/// A digest of what must match for a checkpoint to be resumable.
fn fingerprint(
    cfg: &TrainConfig,
    n_examples: usize,
    model: &CausalLm,
    objective: serde_json::Value,
) -> Result<String> {
    let params: Vec<(String, Vec<usize>)> = model
        .trainable()
        .iter()
        .map(|(n, v)| (n.clone(), v.dims().to_vec()))
        .collect();
    // settings that do not change the numbers are left out
    let mut c = cfg.clone();
    c.save_every = 0;
    c.keep_last = 0;
    c.eval_every = 0;
    let mut v = serde_json::json!({ "config": c, "n_examples": n_examples, "params": params });
    // plain SFT keeps the fingerprint it always had
    if !objective.is_null() {
        v["objective"] = objective;
    }
    let text = serde_json::to_string(&v).map_err(|e| SftError::InvalidArgument(e.to_string()))?;
    // FNV-1a, 64 bit: stable across builds and platforms
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Ok(format!("{h:016x}"))
}

/// Appends one record as a JSON line to `path` (a run's `metrics.jsonl`).
pub fn append_metrics<T: Serialize>(path: &Path, m: &T) -> Result<()> {
    let line = serde_json::to_string(m).map_err(|e| SftError::InvalidArgument(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| SftError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    writeln!(f, "{line}").map_err(|source| SftError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Drops metric lines past `step` (written after the checkpoint a run resumes from);
/// any JSON line with a numeric `step` field counts, so other trainers' richer records
/// are handled too.
pub fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64))
                .is_some_and(|s| s <= step)
        })
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|source| SftError::Io {
        path: path.to_path_buf(),
        source,
    })
}
