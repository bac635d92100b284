//! `distill eval`: pass@k of a model on a benchmark, checked in the sandbox with the
//! same limits as synth, in a resumable directory; `--compare A B` prints the pass@1
//! difference of two evals with a bootstrap confidence interval.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sandbox::artifacts::{ArtifactStore, FetchMode};
use sandbox::{Limits, Sandbox, SandboxOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use synth::eval::{Bench, CompareOptions, EvalOptions, EvalPaths, ModelSpec, ProblemResult};
use synth::teacher::local::{LocalTeacher, LocalTeacherOptions};
use synth::{Checker, OpenAiConfig, OpenAiTeacher, SamplingParams, Teacher};

/// Arguments of `distill eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model: an OpenAI-compatible base URL (`http://127.0.0.1:8000/v1`), a GGUF
    /// file, or a Hugging Face-style model directory.
    #[arg(long, required_unless_present = "compare")]
    model: Option<String>,
    /// Compare two eval directories (B − A): pass@1 difference with a paired
    /// bootstrap 95% confidence interval.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "model")]
    compare: Option<Vec<PathBuf>>,
    /// A PEFT LoRA adapter directory merged into a local --model (an SFT/DPO
    /// student); its name becomes part of the model name.
    #[arg(long, conflicts_with = "compare")]
    adapter: Option<PathBuf>,
    /// Run a GGUF --model in f32 (dequantized once) instead of its quantized blocks:
    /// the arithmetic of a model with --adapter, so a base model and its trained
    /// adapter are compared like for like.
    #[arg(long, conflicts_with = "compare")]
    dequantize: bool,
    /// Prefill prompts of a GGUF --model on its quantized blocks too, instead of f32
    /// copies of its projections (about 4.5x slower prefill; saves 4 bytes per
    /// weight of memory, 1.4 GB for a 0.5B model).
    #[arg(long, conflicts_with = "compare")]
    quantized_prefill: bool,
    /// Benchmark.
    #[arg(long, default_value = "humaneval")]
    bench: String,
    /// Samples per problem (n).
    #[arg(long, default_value_t = 1)]
    samples: u32,
    /// The k of each pass@k, comma-separated; each at most --samples.
    #[arg(long = "k", value_delimiter = ',', default_value = "1")]
    ks: Vec<u32>,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus sampling.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 512)]
    max_tokens: u32,
    /// Base seed: sample s is drawn with seed + s. With --compare: the bootstrap seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate only the first N problems.
    #[arg(long)]
    limit: Option<usize>,
    /// Eval directory (re-running the same command resumes). Default:
    /// `eval-<bench>-<model name>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Environment variable holding the API key for a URL model (unset: none sent).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    api_key_env: String,
    /// Model name sent to a URL model (required with a URL).
    #[arg(long)]
    served_model: Option<String>,
    /// JSON object laid over every request body of a URL model (server-specific
    /// sampling settings, e.g. `{"repeat_penalty": 1.0}` for llama-cpp-python); part of
    /// the recorded model name.
    #[arg(long, value_name = "JSON")]
    extra_body: Option<String>,

    /// Requests (problem samples) in flight (a local model also runs at most one
    /// generation per core).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Retries of a failed request (429, 5xx, timeouts, malformed bodies).
    #[arg(long, default_value_t = 6)]
    retries: u32,
    /// Request timeout for a URL model, e.g. `300s`.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    request_timeout: std::time::Duration,
    /// Sandbox deadline per program (synth's default).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// Sandbox workers (default: cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Bootstrap resamples for --compare.
    #[arg(long, default_value_t = 10_000)]
    resamples: usize,
    /// Run the answers as written, including their own demo and self-test code
    /// (default: only their imports, definitions and assignments, as EvalPlus does).
    #[arg(long)]
    no_sanitize: bool,
    /// Resume even if the eval directory was made with other settings.
    #[arg(long)]
    force: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(dirs) = &args.compare {
        return compare(&args, dirs);
    }
    let spec = args.model.as_deref().context("--model is required")?;
    let bench = Bench::parse(&args.bench)?;
    let model = ModelSpec::parse(spec)?;
    let options = EvalOptions {
        bench,
        samples: args.samples,
        ks: args.ks.clone(),
        params: SamplingParams {
            temperature: args.temperature,
            top_p: args.top_p,
            max_tokens: args.max_tokens,
            seed: Some(args.seed),
            stop: Vec::new(),
        },
        limit: args.limit,
        sanitize: !args.no_sanitize,
        concurrency: args.concurrency,
        force: args.force,
    };
    options.validate()?;
    anyhow::ensure!(
        (args.adapter.is_none() && !args.dequantize && !args.quantized_prefill) || !model.is_url(),
        "--adapter, --dequantize and --quantized-prefill apply to a local model, not to a URL"
    );
    anyhow::ensure!(
        args.extra_body.is_none() || model.is_url(),
        "--extra-body applies to a URL model"
    );
    let teacher = teacher(&args, &model)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let name: String = teacher
            .model()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        PathBuf::from(format!("eval-{}-{name}", bench.name()))
    });

    let store = ArtifactStore::from_env(FetchMode::Offline);
    let problems = bench.load(&store)?;
    let runtime = sandbox::runtime::locate(&store)?;
    let runtime_sha = runtime.sha256.clone();
    let sandbox = Sandbox::open(SandboxOptions {
        runtime: Some(runtime),
        workers: args.workers,
        isolation: super::sandbox::process_workers()?,
        ..SandboxOptions::default()
    })?;
    let limits = Limits {
        timeout: args.timeout,
        ..Limits::default()
    };
    let checker = Arc::new(Checker::new(Arc::new(sandbox), limits, Some(runtime_sha)));

    let total = problems.len().min(args.limit.unwrap_or(usize::MAX));
    let already = synth::eval::read_results(&EvalPaths::new(&out))
        .map(|r| r.len().min(total))
        .unwrap_or(0);
    let bar = ProgressBar::new(total as u64);
    bar.set_position(already as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} problems {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let on_result = |r: &ProblemResult| {
        bar.inc(1);
        bar.set_message(format!("{}: {}/{} passed", r.problem_id, r.c, r.n));
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = rt.block_on(synth::run_eval(
        &out,
        &problems,
        teacher,
        checker,
        &options,
        Some(&on_result),
    ));
    bar.finish_and_clear();
    let summary = summary?;
    print!("{}", summary.table());
    println!("results in {}", out.display());
    Ok(if summary.unfinished > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The teacher that answers for `model`.
fn teacher(args: &Args, model: &ModelSpec) -> anyhow::Result<Arc<dyn Teacher>> {
    match model {
        ModelSpec::Url(url) => {
            let name = args.served_model.as_deref().context(
                "--served-model NAME is required with a URL model (the model name the server expects)",
            )?;
            let mut config = OpenAiConfig::new(url, name);
            config.api_key_env = args.api_key_env.clone();
            config.request_timeout = args.request_timeout;
            config.max_concurrency = args.concurrency.max(1);
            config.retry.max_retries = args.retries;
            if let Some(text) = &args.extra_body {
                config.extra_body = super::synth::parse_extra_body(text)?;
            }
            Ok(Arc::new(OpenAiTeacher::new(config)?))
        }
        ModelSpec::Gguf(path) | ModelSpec::Dir(path) => {
            eprintln!("loading {} ...", path.display());
            // One generation per core; the eval's requests queue on the teacher.
            let options = LocalTeacherOptions {
                concurrency: 0,
                adapter: args.adapter.clone(),
                dequantize: args.dequantize,
                quantized_prefill: args.quantized_prefill,
                ..LocalTeacherOptions::default()
            };
            Ok(Arc::new(LocalTeacher::load(path, options)?))
        }
    }
}

fn compare(args: &Args, dirs: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let [a, b] = dirs else {
        anyhow::bail!("--compare takes two eval directories: A B");
    };
    let options = CompareOptions {
        resamples: args.resamples,
        seed: args.seed,
        ..CompareOptions::default()
    };
    let comparison = synth::eval::compare(a, b, &options)?;
    print!("{}", comparison.table());
    Ok(ExitCode::SUCCESS)
}
