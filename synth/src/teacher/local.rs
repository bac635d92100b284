//! The in-process teacher: a local model (by default the Qwen2.5-Coder-0.5B-Instruct
//! GGUF that `distill setup` caches) answering through `sft`'s generator, no server
//! needed. Generation is blocking CPU work, so each request runs on tokio's blocking
//! pool, at most `concurrency` at a time; all of them share one loaded model.

use super::{ChatRequest, Completion, Teacher, TeacherError, TeacherStats, TokenUsage};
use async_trait::async_trait;
use sft::generate::{GenerateParams, Generator, SamplingConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// A teacher that generates in this process with a local model.
pub struct LocalTeacher {
    generator: Arc<Generator>,
    model: String,
    concurrency: usize,
    permits: Semaphore,
    calls: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl std::fmt::Debug for LocalTeacher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTeacher")
            .field("model", &self.model)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// How to load a local teacher.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalTeacherOptions {
    /// Most generations at once; 0 (the default) means one per core.
    pub concurrency: usize,
    /// A PEFT adapter directory merged into the model (an SFT/DPO student). Default
    /// none.
    pub adapter: Option<PathBuf>,
    /// Dequantize a GGUF model to f32 instead of keeping its quantized blocks (the
    /// arithmetic a trained adapter is merged with; ` (f32)` is added to the default
    /// model name). Default false.
    pub dequantize: bool,
    /// Prefill prompts on a quantized GGUF model's blocks too, instead of f32 copies
    /// of its projections (see [`sft::generate::LoadOptions::quantized_prefill`]):
    /// about 4.5x slower prefill, 4 bytes per weight less memory; ` (quantized
    /// prefill)` is added to the default model name, as the rounding differs.
    /// Default false.
    pub quantized_prefill: bool,
    /// The model name recorded in provenance and cache keys. Default: the file or
    /// directory name (with `+` and the adapter directory's name when one is merged).
    pub model_name: Option<String>,
}

impl From<usize> for LocalTeacherOptions {
    /// Default options with this concurrency.
    fn from(concurrency: usize) -> Self {
        LocalTeacherOptions {
            concurrency,
            ..LocalTeacherOptions::default()
        }
    }
}

impl From<&LocalTeacherOptions> for LocalTeacherOptions {
    fn from(options: &LocalTeacherOptions) -> Self {
        options.clone()
    }
}

/// One concurrent generation per core (at least 1).
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl LocalTeacher {
    /// A teacher over an already loaded generator, running at most `concurrency`
    /// generations at once (0 means [`default_concurrency`]). Its model name is the
    /// generator's (the file or directory name).
    pub fn new(generator: Arc<Generator>, concurrency: usize) -> Self {
        let concurrency = if concurrency == 0 {
            default_concurrency()
        } else {
            concurrency
        };
        LocalTeacher {
            model: generator.name.clone(),
            generator,
            concurrency,
            permits: Semaphore::new(concurrency),
            calls: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
        }
    }

    /// Loads a `.gguf` file or a Hugging Face directory ([`sft::generate::load_with`])
    /// on the CPU. `options` is a `&LocalTeacherOptions` or just a concurrency
    /// (`usize`, 0 = one per core). A path that is not a model, or a model that does
    /// not load, is a [`TeacherError::Setup`] (fatal for a run).
    pub fn load(
        path: &Path,
        options: impl Into<LocalTeacherOptions>,
    ) -> Result<Self, TeacherError> {
        let options = options.into();
        let load = sft::generate::LoadOptions {
            adapter: options.adapter.clone(),
            dequantize: options.dequantize,
            quantized_prefill: options.quantized_prefill,
        };
        let generator = sft::generate::load_with(path, &load)
            .map_err(|e| TeacherError::Setup(format!("local teacher: {e}")))?;
        let name = match (&options.model_name, &options.adapter) {
            (Some(name), _) => name.clone(),
            (None, Some(adapter)) => format!(
                "{}+{}",
                generator.name,
                adapter.file_name().map_or_else(
                    || adapter.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            (None, None) if options.dequantize => format!("{} (f32)", generator.name),
            (None, None) if options.quantized_prefill && generator.model.is_quantized() => {
                format!("{} (quantized prefill)", generator.name)
            }
            (None, None) => generator.name.clone(),
        };
        Ok(Self::new(Arc::new(generator), options.concurrency).with_model_name(name))
    }

    /// Replaces the model name recorded in provenance and cache keys.
    pub fn with_model_name(mut self, name: impl Into<String>) -> Self {
        self.model = name.into();
        self
    }

    /// The generator answering requests.
    pub fn generator(&self) -> &Arc<Generator> {
        &self.generator
    }

    /// Most generations running at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }
}

/// The generator's settings for a request's sampling parameters. A request without
/// a seed uses seed 0, so a local teacher always repeats itself.
pub fn generate_params(request: &ChatRequest) -> GenerateParams {
    let p = &request.params;
    GenerateParams {
        max_new_tokens: p.max_tokens as usize,
        sampling: SamplingConfig {
            temperature: p.temperature,
            top_p: p.top_p,
            seed: p.seed.unwrap_or(0),
        },
        stop: p.stop.clone(),
    }
}

#[async_trait]
impl Teacher for LocalTeacher {
    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, TeacherError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| TeacherError::Setup("local teacher closed".into()))?;
        let generator = Arc::clone(&self.generator);
        let messages = request.messages.clone();
        let params = generate_params(request);
        // Several generations at once each stay on one core: on candle's shared CPU
        // pools they would take turns (1.75x slower synth on 2 cores, BENCHMARKS.md
        // "Generation"). A single one may use every core.
        let one_per_core = self.concurrency > 1;
        let joined = tokio::task::spawn_blocking(move || {
            if one_per_core {
                sft::generate::on_one_thread(|| generator.chat(&messages, &params))
                    .and_then(|generated| generated)
            } else {
                generator.chat(&messages, &params)
            }
        })
        .await;
        // A failure here is deterministic for this request (a prompt beyond the
        // context, a template that rejects the conversation): not retried, and not
        // fatal for the other problems of the run.
        let out = match joined {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(TeacherError::Exhausted {
                    attempts: 1,
                    last: format!("local generation failed: {e}"),
                });
            }
            Err(e) => {
                return Err(TeacherError::Exhausted {
                    attempts: 1,
                    last: format!("local generation crashed: {e}"),
                });
            }
        };
        tracing::debug!(
            model = %self.model,
            prompt_tokens = out.prompt_tokens,
            completion_tokens = out.completion_tokens,
            prefill_s = out.prefill_seconds,
            tokens_per_s = out.tokens_per_second,
            finish = out.finish_reason.as_str(),
            "local teacher answered"
        );
        let usage = TokenUsage {
            prompt_tokens: out.prompt_tokens as u64,
            completion_tokens: out.completion_tokens as u64,
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens
            .fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(usage.completion_tokens, Ordering::Relaxed);
        Ok(Completion {
            content: out.text,
            usage: Some(usage),
            finish_reason: Some(out.finish_reason.as_str().to_string()),
        })
    }

    fn stats(&self) -> TeacherStats {
        TeacherStats {
            calls: self.calls.load(Ordering::Relaxed),
            retries: 0,
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
        }
    }
}
