//! The DPO trainer, on `sft`'s training machinery: the same step → data mapping
//! ([`sft::train::step_indices`]), gradient accumulation, global-norm clipping, AdamW
//! on the warmup schedule, `metrics.jsonl` (readable by `distill plot`), and atomic
//! checkpoints ([`sft::checkpoint`]) that resume exactly.
//!
//! A step takes `batch_size × grad_accum` pairs; each micro-batch is one forward of
//! its chosen and rejected sequences, and its loss (a mean over its pairs) is weighted
//! by its share of the step's pairs, so the accumulated gradient is that of the
//! step's mean loss. The step's metrics are computed over all its pairs at once, with
//! TRL's names.

use crate::error::{DpoError, Result};
use crate::logps::sequence_logps;
use crate::loss::{PairLogps, PreferenceLossConfig, preference_loss};
use crate::metrics::PreferenceMetrics;
use crate::pairs::TokenizedPair;
use crate::reference::{RefLogps, pair_forward, pair_logps};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use sft::checkpoint::{self, CHECKPOINT_VERSION, TrainState};
use sft::clip::{clip_grad_norm, grad_norm};
use sft::loss::token_hits;
use sft::rng::Rng;
use sft::schedule::Schedule;
use sft::train::{StepMetrics, accumulate_grads, append_metrics, step_indices, truncate_metrics};
use sft::{AdamW, CausalLm, ForwardCtx, TrainConfig};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Preference metrics on the held-out pairs, logged as TRL's `eval_*` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Mean loss over the held-out pairs. In `metrics.jsonl` it is the step's
    /// `eval_loss` (one key shared with `sft`'s records), so it is not written twice.
    #[serde(skip_serializing, default)]
    pub eval_loss: f64,
    /// `rewards/chosen` on the held-out pairs.
    #[serde(rename = "eval_rewards/chosen")]
    pub rewards_chosen: f64,
    /// `rewards/rejected` on the held-out pairs.
    #[serde(rename = "eval_rewards/rejected")]
    pub rewards_rejected: f64,
    /// `rewards/accuracies` on the held-out pairs.
    #[serde(rename = "eval_rewards/accuracies")]
    pub rewards_accuracies: f64,
    /// `rewards/margins` on the held-out pairs.
    #[serde(rename = "eval_rewards/margins")]
    pub rewards_margins: f64,
    /// `logps/chosen` on the held-out pairs.
    #[serde(rename = "eval_logps/chosen")]
    pub logps_chosen: f64,
    /// `logps/rejected` on the held-out pairs.
    #[serde(rename = "eval_logps/rejected")]
    pub logps_rejected: f64,
    /// Fraction of held-out pairs where the policy's summed log-prob of the chosen
    /// answer beats the rejected one's (the preference accuracy of the model itself,
    /// comparable across models, unlike reward accuracy).
    #[serde(rename = "eval_logps/accuracy")]
    pub logps_accuracy: f64,
}

impl EvalMetrics {
    fn new(m: &PreferenceMetrics, logps_accuracy: f64) -> Self {
        EvalMetrics {
            eval_loss: m.loss,
            rewards_chosen: m.rewards_chosen,
            rewards_rejected: m.rewards_rejected,
            rewards_accuracies: m.rewards_accuracies,
            rewards_margins: m.rewards_margins,
            logps_chosen: m.logps_chosen,
            logps_rejected: m.logps_rejected,
            logps_accuracy,
        }
    }
}

/// One DPO step's line of `metrics.jsonl`: `sft`'s step fields (so `distill plot`
/// reads it; `loss` is the preference loss, `mean_token_accuracy` the argmax accuracy
/// on the chosen tokens, `num_tokens` counts chosen and rejected tokens) plus TRL's
/// preference metrics and, on eval steps, the held-out ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpoStepMetrics {
    /// Step, loss, grad norm, learning rate, tokens, tokens/s, ...
    #[serde(flatten)]
    pub base: StepMetrics,
    /// `rewards/chosen`.
    #[serde(rename = "rewards/chosen")]
    pub rewards_chosen: f64,
    /// `rewards/rejected`.
    #[serde(rename = "rewards/rejected")]
    pub rewards_rejected: f64,
    /// `rewards/accuracies`.
    #[serde(rename = "rewards/accuracies")]
    pub rewards_accuracies: f64,
    /// `rewards/margins`.
    #[serde(rename = "rewards/margins")]
    pub rewards_margins: f64,
    /// `logps/chosen`.
    #[serde(rename = "logps/chosen")]
    pub logps_chosen: f64,
    /// `logps/rejected`.
    #[serde(rename = "logps/rejected")]
    pub logps_rejected: f64,
    /// `nll_loss`: the chosen answers' NLL per token.
    pub nll_loss: f64,
    /// Held-out metrics, on eval steps.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<EvalMetrics>,
}

/// Per-pair policy log-probs `(chosen, rejected)` and counted tokens `(chosen,
/// rejected)`, in pair order.
pub type PolicyLogps = (Vec<(f64, f64)>, Vec<(usize, usize)>);

/// Trains a policy on preference pairs against fixed reference log-probs.
pub struct DpoTrainer {
    model: CausalLm,
    cfg: TrainConfig,
    loss: PreferenceLossConfig,
    opt: AdamW,
    schedule: Schedule,
    state: TrainState,
    out: PathBuf,
    n_pairs: usize,
    steps_per_epoch: u64,
}

fn to_f64(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.detach().to_dtype(DType::F64)?.to_vec1()?)
}

fn f64_tensor(v: &[f64], device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(v, v.len(), device)?.to_dtype(DType::F32)?)
}

/// The loss and metrics of fixed per-pair values (no gradients).
fn metrics_of(
    loss: &PreferenceLossConfig,
    pol: &[(f64, f64)],
    refs: &[RefLogps],
    tokens: &[(usize, usize)],
) -> Result<crate::loss::PreferenceLoss> {
    let d = Device::Cpu;
    let col = |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..pol.len()).map(f).collect() };
    let lp = PairLogps {
        policy_chosen: Tensor::from_slice(&col(&|i| pol[i].0), pol.len(), &d)?,
        policy_rejected: Tensor::from_slice(&col(&|i| pol[i].1), pol.len(), &d)?,
        ref_chosen: Tensor::from_slice(&col(&|i| refs[i].chosen), pol.len(), &d)?,
        ref_rejected: Tensor::from_slice(&col(&|i| refs[i].rejected), pol.len(), &d)?,
        chosen_tokens: tokens.iter().map(|t| t.0).collect(),
        rejected_tokens: tokens.iter().map(|t| t.1).collect(),
    };
    preference_loss(loss, &lp)
}

impl DpoTrainer {
    /// A trainer for `n_pairs` training pairs writing into `out`; `run_id` ties its
    /// checkpoints to the data and model (e.g. the reference cache key).
    pub fn new(
        model: CausalLm,
        cfg: TrainConfig,
        loss: PreferenceLossConfig,
        n_pairs: usize,
        out: &Path,
        run_id: &str,
    ) -> Result<Self> {
        cfg.validate()?;
        loss.validate()?;
        if n_pairs == 0 {
            return Err(DpoError::InvalidInput("no training pairs".into()));
        }
        if model.trainable().is_empty() {
            return Err(DpoError::InvalidInput(
                "the model has nothing to train".into(),
            ));
        }
        let per_step = cfg.batch_size * cfg.grad_accum;
        let steps_per_epoch = n_pairs.div_ceil(per_step) as u64;
        let schedule = Schedule {
            peak_lr: cfg.adamw.lr,
            warmup_steps: cfg.warmup_steps,
            total_steps: steps_per_epoch * cfg.epochs,
            decay: cfg.decay,
        };
        let opt = AdamW::new(model.trainable(), cfg.adamw)?;
        let fingerprint = fingerprint(&cfg, &loss, n_pairs, &model, run_id)?;
        let state = TrainState {
            version: CHECKPOINT_VERSION,
            step: 0,
            num_tokens: 0,
            rng: Rng::new(cfg.seed ^ 0x5EED_D90F),
            fingerprint,
        };
        Ok(DpoTrainer {
            model,
            cfg,
            loss,
            opt,
            schedule,
            state,
            out: out.to_path_buf(),
            n_pairs,
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
    /// returns its step. A checkpoint of another run is an error.
    pub fn resume(&mut self) -> Result<Option<u64>> {
        let Some(ck) = checkpoint::load_latest(&self.out, self.model.device())? else {
            return Ok(None);
        };
        if ck.state.fingerprint != self.state.fingerprint {
            return Err(DpoError::Resume {
                path: ck.dir,
                message: "it belongs to a run with other settings, data or model".into(),
            });
        }
        for (name, var) in self.model.trainable() {
            let t = ck
                .weights
                .get(name)
                .ok_or_else(|| sft::SftError::MissingTensor(name.clone()))?;
            if t.dims() != var.dims() {
                return Err(sft::SftError::TensorShape {
                    name: name.clone(),
                    expected: var.dims().to_vec(),
                    actual: t.dims().to_vec(),
                }
                .into());
            }
            var.set(t)?;
        }
        self.opt.load_state(&ck.optimizer, ck.state.step)?;
        self.state = ck.state;
        truncate_metrics(&self.out.join("metrics.jsonl"), self.state.step)?;
        Ok(Some(self.state.step))
    }

    /// Writes a checkpoint of the current step.
    pub fn save(&self) -> Result<PathBuf> {
        Ok(checkpoint::save(
            &self.out,
            &self.state,
            self.model.trainable(),
            &self.opt.state_tensors(),
            self.cfg.keep_last,
        )?)
    }

    /// Trains until the end of the run or for `stop_after` more steps, appending
    /// each step's metrics to `OUT/metrics.jsonl` and returning them. `train_ref` and
    /// `eval_ref` are the reference log-probs of `train` and `eval`, pair for pair.
    pub fn run(
        &mut self,
        train: &[TokenizedPair],
        train_ref: &[RefLogps],
        eval: &[TokenizedPair],
        eval_ref: &[RefLogps],
        stop_after: Option<u64>,
    ) -> Result<Vec<DpoStepMetrics>> {
        if train.len() != self.n_pairs || train_ref.len() != train.len() {
            return Err(DpoError::InvalidInput(format!(
                "the trainer was set up for {} pairs, got {} with {} reference values",
                self.n_pairs,
                train.len(),
                train_ref.len()
            )));
        }
        if eval_ref.len() != eval.len() {
            return Err(DpoError::InvalidInput(format!(
                "{} held-out pairs with {} reference values",
                eval.len(),
                eval_ref.len()
            )));
        }
        std::fs::create_dir_all(&self.out).map_err(|source| DpoError::Io {
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
            let mut m = self.train_step(train, train_ref)?;
            let s = self.state.step;
            if self.cfg.eval_every > 0
                && !eval.is_empty()
                && (s.is_multiple_of(self.cfg.eval_every) || s == total)
            {
                let e = self.evaluate(eval, eval_ref)?;
                m.base.eval_loss = Some(e.eval_loss);
                m.eval = Some(e);
            }
            append_metrics(&self.out.join("metrics.jsonl"), &m)?;
            if (self.cfg.save_every > 0 && s.is_multiple_of(self.cfg.save_every)) || s == total {
                self.save()?;
            }
            all.push(m);
        }
        Ok(all)
    }

    fn train_step(&mut self, train: &[TokenizedPair], refs: &[RefLogps]) -> Result<DpoStepMetrics> {
        let t0 = Instant::now();
        let per_step = self.cfg.batch_size * self.cfg.grad_accum;
        let idx = step_indices(self.cfg.seed, self.n_pairs, per_step, self.state.step);
        let n = idx.len();
        let device = self.model.device().clone();
        let pad_id = self.cfg.pad_id;
        let mut ctx = ForwardCtx::train(self.state.rng.clone());
        let mut acc: Option<GradStore> = None;
        let (mut pol, mut step_refs, mut tokens) = (Vec::new(), Vec::new(), Vec::new());
        let (mut hits, mut counted) = (0usize, 0usize);
        for chunk in idx.chunks(self.cfg.batch_size) {
            let pairs: Vec<&TokenizedPair> = chunk.iter().map(|&i| &train[i]).collect();
            let r: Vec<RefLogps> = chunk.iter().map(|&i| refs[i]).collect();
            let (logits, batch) = pair_forward(&self.model, &pairs, pad_id, &mut ctx)?;
            let (c, rj) =
                sequence_logps(&logits, &batch.input_ids, &batch.loss_mask)?.split_pairs()?;
            // argmax accuracy on the chosen rows, (B, seq)
            let b = pairs.len();
            let (h, k) = token_hits(
                &logits.narrow(0, 0, b)?.detach(),
                &batch.input_ids.narrow(0, 0, b)?,
                &batch.loss_mask.narrow(0, 0, b)?,
            )?;
            hits += h;
            counted += k;
            let lp = PairLogps {
                policy_chosen: c.logps.clone(),
                policy_rejected: rj.logps.clone(),
                ref_chosen: f64_tensor(&r.iter().map(|x| x.chosen).collect::<Vec<_>>(), &device)?,
                ref_rejected: f64_tensor(
                    &r.iter().map(|x| x.rejected).collect::<Vec<_>>(),
                    &device,
                )?,
                chosen_tokens: c.tokens.clone(),
                rejected_tokens: rj.tokens.clone(),
            };
            let out = preference_loss(&self.loss, &lp)?;
            let grads = (out.loss * (chunk.len() as f64 / n as f64))?.backward()?;
            acc = Some(accumulate_grads(acc, grads, self.model.trainable())?);
            let (pc, pr) = (to_f64(&c.logps)?, to_f64(&rj.logps)?);
            pol.extend(pc.into_iter().zip(pr));
            step_refs.extend(r);
            tokens.extend(c.tokens.iter().copied().zip(rj.tokens.iter().copied()));
        }
        let mut grads = acc.ok_or_else(|| DpoError::InvalidInput("empty step".into()))?;
        let norm = match self.cfg.max_grad_norm {
            Some(c) => clip_grad_norm(&mut grads, self.model.trainable(), c)?,
            None => grad_norm(&grads, self.model.trainable())?,
        };
        let lr = self.schedule.lr(self.state.step);
        self.opt.step(&grads, lr)?;
        let step_tokens: usize = tokens.iter().map(|(c, r)| c + r).sum();
        self.state.step += 1;
        self.state.num_tokens += step_tokens as u64;
        self.state.rng = ctx.rng.unwrap_or_else(|| Rng::new(0));
        let m = metrics_of(&self.loss, &pol, &step_refs, &tokens)?.metrics;
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        Ok(DpoStepMetrics {
            base: StepMetrics {
                step: self.state.step,
                loss: m.loss,
                grad_norm: norm,
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
                peak_rss_bytes: sft::train::peak_rss_bytes(),
                extra: Default::default(),
            },
            rewards_chosen: m.rewards_chosen,
            rewards_rejected: m.rewards_rejected,
            rewards_accuracies: m.rewards_accuracies,
            rewards_margins: m.rewards_margins,
            logps_chosen: m.logps_chosen,
            logps_rejected: m.logps_rejected,
            nll_loss: m.nll_loss,
            eval: None,
        })
    }

    /// Policy log-probs `(chosen, rejected)` and counted tokens of `pairs` without
    /// dropout, `batch_size` pairs per forward.
    pub fn policy_logps(&self, pairs: &[TokenizedPair]) -> Result<PolicyLogps> {
        let refs: Vec<&TokenizedPair> = pairs.iter().collect();
        let (mut pol, mut tokens) = (Vec::new(), Vec::new());
        for chunk in refs.chunks(self.cfg.batch_size) {
            let (c, r) = pair_logps(&self.model, chunk, self.cfg.pad_id, &mut ForwardCtx::eval())?;
            pol.extend(to_f64(&c.logps)?.into_iter().zip(to_f64(&r.logps)?));
            tokens.extend(c.tokens.into_iter().zip(r.tokens));
        }
        Ok((pol, tokens))
    }

    /// Preference metrics of the current model on `pairs` (no dropout), over all of
    /// them at once.
    pub fn evaluate(&self, pairs: &[TokenizedPair], refs: &[RefLogps]) -> Result<EvalMetrics> {
        if pairs.is_empty() || pairs.len() != refs.len() {
            return Err(DpoError::InvalidInput(format!(
                "{} pairs with {} reference values",
                pairs.len(),
                refs.len()
            )));
        }
        let (pol, tokens) = self.policy_logps(pairs)?;
        let m = metrics_of(&self.loss, &pol, refs, &tokens)?.metrics;
        Ok(EvalMetrics::new(&m, logps_accuracy(&pol)))
    }
}

/// Fraction of pairs whose chosen log-prob is strictly above the rejected one's.
pub fn logps_accuracy(pol: &[(f64, f64)]) -> f64 {
    let wins = pol.iter().filter(|(c, r)| c > r).count();
    wins as f64 / pol.len().max(1) as f64
}

/// A digest of what must match for a checkpoint to be resumable.
fn fingerprint(
    cfg: &TrainConfig,
    loss: &PreferenceLossConfig,
    n_pairs: usize,
    model: &CausalLm,
    run_id: &str,
) -> Result<String> {
    let params: Vec<(String, Vec<usize>)> = model
        .trainable()
        .iter()
        .map(|(n, v)| (n.clone(), v.dims().to_vec()))
        .collect();
    let mut c = cfg.clone();
    c.save_every = 0;
    c.keep_last = 0;
    c.eval_every = 0;
    let v = serde_json::json!({
        "trainer": "dpo",
        "config": c,
        "loss": loss,
        "n_pairs": n_pairs,
        "params": params,
        "run": run_id,
    });
    Ok(hex::encode(Sha256::digest(v.to_string().as_bytes()))[..16].to_string())
}
