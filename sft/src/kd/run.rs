//! Logit distillation end to end: the student side is an SFT run ([`FinetuneConfig`]:
//! model, data, LoRA or full, schedule, checkpoints, resume, outputs), minimizing
//! [`Distillation`] instead of cross-entropy. The teacher is a model (GGUF file or
//! Hugging Face directory, loaded frozen in f32) or a top-k cache written by
//! [`write_topk_cache`] on the same data and settings.

use super::loss::KdLoss;
use super::objective::{Distillation, Teacher};
use super::on_policy::OnPolicy;
use super::topk_cache::{CacheMeta, TopKCache};
use super::vocab::check_same_vocab;
use crate::error::{Result, SftError};
use crate::finetune::{
    FinetuneConfig, FinetuneSummary, Progress, device, finetune_with, load_model, prepare_data,
};
use crate::generate::END_TOKENS;
use crate::model::{CausalLm, TrainMode};
use crate::prepare::ChatTokenizer;
use std::path::{Path, PathBuf};

/// Where the teacher's distributions come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TeacherSpec {
    /// A model: a GGUF file or a Hugging Face directory.
    Model(PathBuf),
    /// A cache directory written by [`write_topk_cache`].
    Cache(PathBuf),
}

/// Every setting of a distillation run.
#[derive(Debug, Clone, PartialEq)]
pub struct KdConfig {
    /// The student run: `model` is the student; data, output, LoRA or full
    /// fine-tuning, schedule and checkpoints as for SFT.
    pub train: FinetuneConfig,
    /// The teacher.
    pub teacher: TeacherSpec,
    /// Divergence (β) and temperature. Default β 0.5, T 1.
    pub loss: KdLoss,
    /// Weight of the cross-entropy on the data's answers. Default 0.5.
    pub ce_weight: f64,
    /// Fraction of steps on the student's own samples (GKD's λ). Default 0.
    pub on_policy: f64,
    /// Most tokens per on-policy sample. Default 128.
    pub on_policy_max_new_tokens: usize,
    /// Sampling temperature of on-policy samples. Default 0.9 (TRL's GKD default).
    pub on_policy_temperature: f32,
}

impl Default for KdConfig {
    fn default() -> Self {
        KdConfig {
            train: FinetuneConfig::default(),
            teacher: TeacherSpec::Model(PathBuf::new()),
            loss: KdLoss::default(),
            ce_weight: 0.5,
            on_policy: 0.0,
            on_policy_max_new_tokens: 128,
            on_policy_temperature: 0.9,
        }
    }
}

/// The ids of the tokenizer's end tokens (EOS and the usual end-of-turn tokens).
fn end_ids(tok: &ChatTokenizer) -> Vec<u32> {
    let mut ids: Vec<u32> = END_TOKENS
        .iter()
        .filter_map(|t| tok.tokenizer.token_to_id(t))
        .collect();
    ids.extend(tok.eos_id);
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Loads the teacher frozen, after checking that its tokenizer equals the
/// student's and that its vocabulary matches: exactly `student_vocab` entries when
/// the student's model size is known, otherwise at least the tokenizer's.
pub fn load_teacher(
    path: &Path,
    student_tok: &ChatTokenizer,
    student_vocab: Option<usize>,
) -> Result<CausalLm> {
    if !path.exists() {
        return Err(SftError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such teacher model"),
        });
    }
    let teacher_tok = ChatTokenizer::from_model_path(path)?;
    check_same_vocab(&student_tok.tokenizer, &teacher_tok.tokenizer)?;
    let teacher = load_model(path, &TrainMode::Frozen, &device()?)?;
    let have = teacher.config.vocab_size;
    let fits = match student_vocab {
        Some(v) => have == v,
        None => have >= student_tok.tokenizer.get_vocab_size(true),
    };
    if !fits {
        return Err(SftError::InvalidArgument(format!(
            "{}: the teacher's vocabulary has {have} entries, the student's {}",
            path.display(),
            student_vocab.unwrap_or_else(|| student_tok.tokenizer.get_vocab_size(true))
        )));
    }
    Ok(teacher)
}

impl KdConfig {
    /// Checks every setting that can be checked without reading files.
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        self.loss.validate()?;
        self.on_policy_settings(Vec::new()).validate()?;
        if !(0.0..=1.0).contains(&self.ce_weight) {
            return Err(SftError::InvalidArgument(format!(
                "ce-weight {} must be in [0, 1]",
                self.ce_weight
            )));
        }
        Ok(())
    }

    fn on_policy_settings(&self, eos: Vec<u32>) -> OnPolicy {
        OnPolicy {
            fraction: self.on_policy,
            max_new_tokens: self.on_policy_max_new_tokens,
            temperature: self.on_policy_temperature,
            seed: self.train.seed,
            eos,
        }
    }
}

/// Runs (or resumes) the distillation described by `cfg`; everything is checked
/// before the first step, including the teacher's vocabulary and, for a cache, that
/// it was computed on this data.
pub fn distill(cfg: &KdConfig, progress: impl FnMut(Progress<'_>)) -> Result<FinetuneSummary> {
    cfg.validate()?;
    finetune_with(
        &cfg.train,
        |prepared, tok, student| {
            let vocab = student.config.vocab_size;
            let teacher = match &cfg.teacher {
                TeacherSpec::Model(path) => Teacher::Model {
                    model: Box::new(load_teacher(path, tok, Some(vocab))?),
                    name: path.display().to_string(),
                },
                TeacherSpec::Cache(dir) => {
                    if cfg.loss.beta > 0.9 {
                        tracing::warn!(
                            "the reverse KL (beta {}) is poorly approximated by a top-k cache where the student puts mass outside the teacher's top k; prefer --teacher",
                            cfg.loss.beta
                        );
                    }
                    let cache = TopKCache::load(dir)?;
                    cache.check_matches(prepared, vocab, dir)?;
                    Teacher::Cache(Box::new(cache))
                }
            };
            let d = Distillation {
                teacher,
                loss: cfg.loss,
                ce_weight: cfg.ce_weight,
                on_policy: (cfg.on_policy > 0.0).then(|| cfg.on_policy_settings(end_ids(tok))),
            };
            d.validate()?;
            Ok(Box::new(d))
        },
        progress,
    )
}

/// Runs the teacher (`cfg.teacher` must be a model) over the data of `cfg` prepared
/// exactly as [`distill`] prepares it, and writes the top-`k` cache to `out`.
/// `progress(done, total)` is called after each example.
pub fn write_topk_cache(
    cfg: &KdConfig,
    k: usize,
    out: &Path,
    progress: impl FnMut(usize, usize),
) -> Result<CacheMeta> {
    cfg.validate()?;
    let TeacherSpec::Model(path) = &cfg.teacher else {
        return Err(SftError::InvalidArgument(
            "the top-k cache is computed from a teacher model, not from another cache".into(),
        ));
    };
    let (tok, prepared) = prepare_data(&cfg.train)?;
    let teacher = load_teacher(path, &tok, None)?;
    let cache = TopKCache::compute(
        &teacher,
        &path.display().to_string(),
        &prepared,
        k,
        progress,
    )?;
    cache.save(out)?;
    Ok(cache.meta)
}
