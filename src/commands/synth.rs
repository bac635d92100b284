//! `distill synth`: teacher answers checked in the sandbox with error feedback, written
//! as verified SFT records and DPO pairs in a resumable run directory.

use anyhow::Context;
use sandbox::artifacts::{ArtifactStore, FetchMode, QWEN25_CODER_05B_GGUF};
use sandbox::{Limits, Sandbox, SandboxOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use synth::teacher::local::{LocalTeacher, LocalTeacherOptions};
use synth::{Checker, DpoRejected, OpenAiConfig, OpenAiTeacher, SftDialogue, SynthOptions};

/// Arguments of `distill synth` (or its `problems` subcommand).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    /// `distill synth problems`: generate problems from seed snippets instead.
    #[command(subcommand)]
    command: Option<SynthCommand>,
    /// Problems (JSON Lines of `Problem` records).
    #[arg(long, required = true)]
    problems: Option<PathBuf>,
    /// OpenAI-compatible base URL up to the API version, e.g. `http://127.0.0.1:8000/v1`;
    /// or `local:PATH` for an in-process model (a `.gguf` file or a Hugging Face
    /// directory); `local:` alone is the Qwen2.5-Coder-0.5B-Instruct that `distill
    /// setup` cached.
    #[arg(long, required = true)]
    teacher: Option<String>,
    /// Model name sent to the teacher (required for a URL; for `local:` it replaces
    /// the file name in provenance).
    #[arg(long)]
    model: Option<String>,
    /// Run directory (re-running the same command resumes).
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Environment variable holding the API key (unset: no key is sent).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    api_key_env: String,
    /// JSON object laid over every request body of a URL teacher (server-specific
    /// sampling settings, e.g. `{"repeat_penalty": 1.0}` for llama-cpp-python); part of
    /// the recorded model name.
    #[arg(long, value_name = "JSON")]
    extra_body: Option<String>,
    /// Independent samples per problem.
    #[arg(long, default_value_t = 4)]
    samples: u32,
    /// Feedback turns after a failed answer.
    #[arg(long, default_value_t = 3)]
    max_feedback: u32,
    /// Stop a problem once this many samples passed.
    #[arg(long, default_value_t = 1)]
    accept: u32,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Nucleus sampling.
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 2048)]
    max_tokens: u32,
    /// Teacher requests in flight (default: 32 for a server, one per core for a local
    /// model).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Retries of a failed teacher call (429, 5xx, timeouts, malformed bodies).
    #[arg(long, default_value_t = 6)]
    retries: u32,
    /// Teacher request timeout, e.g. `300s`.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    request_timeout: std::time::Duration,
    #[command(flatten)]
    local: LocalFlags,
    /// Check assert-style answers without their own top-level demo code and
    /// self-tests (only imports, definitions and assignments run, as EvalPlus does).
    #[arg(long)]
    strip_demo_code: bool,
    /// Keep the feedback turns in the SFT dialogues (default: problem → final answer).
    #[arg(long)]
    sft_feedback: bool,
    /// Only failures that ran (not syntax errors or missing code) become DPO rejections.
    #[arg(long)]
    dpo_executed_only: bool,
    /// Sandbox deadline per program.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// Sandbox workers (default: cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Skip bad problem lines (each is reported) instead of stopping.
    #[arg(long)]
    lenient: bool,
    /// Resume even if the run directory was made with other settings.
    #[arg(long)]
    force: bool,
}

/// Subcommands of `distill synth`.
#[derive(Debug, clap::Subcommand)]
enum SynthCommand {
    /// Turn seed code snippets into verified `Problem` records (OSS-Instruct style).
    Problems(Box<super::synth_problems::Args>),
    /// DPO pairs across two runs: one run's verified answers as chosen, another run's
    /// failed answers on the same problems (the student's own: on-policy) as rejected.
    Pairs(super::synth_pairs::Args),
}

/// Flags of an in-process (`local:`) teacher, shared by `distill synth` and
/// `distill synth problems`.
#[derive(Debug, clap::Args)]
pub(super) struct LocalFlags {
    /// With a `local:` GGUF teacher: prefill prompts on its quantized blocks too,
    /// instead of f32 copies of its projections (about 4.5x slower prefill; saves 4
    /// bytes per weight of memory, 1.4 GB for the 0.5B default teacher).
    #[arg(long)]
    pub quantized_prefill: bool,
}

/// The teacher flags shared by `distill synth` and `distill synth problems`.
pub(super) struct TeacherFlags<'a> {
    /// `--teacher`: a URL or `local:PATH`.
    pub spec: &'a str,
    /// `--model`.
    pub model: Option<&'a str>,
    /// `--concurrency`.
    pub concurrency: Option<usize>,
    /// `--api-key-env`.
    pub api_key_env: &'a str,
    /// `--request-timeout`.
    pub request_timeout: std::time::Duration,
    /// `--retries`.
    pub retries: u32,
    /// `--extra-body`.
    pub extra_body: Option<&'a str>,
    /// `--quantized-prefill`.
    pub quantized_prefill: bool,
}

/// The teacher `--teacher` names and its number of requests in flight.
fn teacher(args: &Args, spec: &str) -> anyhow::Result<(Arc<dyn synth::Teacher>, usize)> {
    build_teacher(&TeacherFlags {
        spec,
        model: args.model.as_deref(),
        concurrency: args.concurrency,
        api_key_env: &args.api_key_env,
        request_timeout: args.request_timeout,
        retries: args.retries,
        extra_body: args.extra_body.as_deref(),
        quantized_prefill: args.local.quantized_prefill,
    })
}

/// Builds the teacher the flags name and its number of requests in flight.
pub(super) fn build_teacher(
    args: &TeacherFlags<'_>,
) -> anyhow::Result<(Arc<dyn synth::Teacher>, usize)> {
    if let Some(path) = args.spec.strip_prefix("local:") {
        anyhow::ensure!(
            args.extra_body.is_none(),
            "--extra-body applies to a URL teacher, not to `local:`"
        );
        let path = if path.is_empty() {
            ArtifactStore::from_env(FetchMode::Offline)
                .file(&QWEN25_CODER_05B_GGUF)
                .context("the default local teacher is not cached; run `distill setup`")?
        } else {
            PathBuf::from(path)
        };
        let concurrency = args
            .concurrency
            .unwrap_or_else(synth::teacher::local::default_concurrency)
            .max(1);
        eprintln!("loading {} ...", path.display());
        let options = LocalTeacherOptions {
            concurrency,
            model_name: args.model.map(str::to_string),
            quantized_prefill: args.quantized_prefill,
            ..LocalTeacherOptions::default()
        };
        let teacher = LocalTeacher::load(&path, &options)?;
        return Ok((Arc::new(teacher), concurrency));
    }
    anyhow::ensure!(
        !args.quantized_prefill,
        "--quantized-prefill applies to a `local:` teacher, not to a URL"
    );
    let model = args.model.context(
        "--model NAME is required with a URL teacher (the model name the server expects)",
    )?;
    let concurrency = args.concurrency.unwrap_or(32).max(1);
    let mut config = OpenAiConfig::new(args.spec, model);
    config.api_key_env = args.api_key_env.to_string();
    config.request_timeout = args.request_timeout;
    config.max_concurrency = concurrency;
    config.retry.max_retries = args.retries;
    if let Some(text) = args.extra_body {
        config.extra_body = parse_extra_body(text)?;
    }
    Ok((Arc::new(OpenAiTeacher::new(config)?), concurrency))
}

/// Opens the sandbox on the installed runtime and a checker with deadline `timeout`.
pub(super) fn open_checker(
    workers: Option<usize>,
    timeout: std::time::Duration,
) -> anyhow::Result<Arc<Checker>> {
    let store = ArtifactStore::from_env(FetchMode::Offline);
    let runtime = sandbox::runtime::locate(&store)?;
    let runtime_sha = runtime.sha256.clone();
    let sandbox = Sandbox::open(SandboxOptions {
        runtime: Some(runtime),
        workers,
        isolation: super::sandbox::process_workers()?,
        ..SandboxOptions::default()
    })?;
    let limits = Limits {
        timeout,
        ..Limits::default()
    };
    Ok(Arc::new(Checker::new(
        Arc::new(sandbox),
        limits,
        Some(runtime_sha),
    )))
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(SynthCommand::Problems(sub)) => return super::synth_problems::execute(*sub),
        Some(SynthCommand::Pairs(sub)) => return super::synth_pairs::execute(sub),
        None => {}
    }
    let (Some(problems_path), Some(spec), Some(out)) = (
        args.problems.as_ref(),
        args.teacher.as_deref(),
        args.out.as_ref(),
    ) else {
        anyhow::bail!("--problems, --teacher and --out are required");
    };
    let (problems, read) = synth::load_problems(problems_path, args.lenient)?;
    for bad in &read.bad {
        eprintln!("{bad}");
    }
    let (teacher, concurrency) = teacher(&args, spec)?;
    let checker = open_checker(args.workers, args.timeout)?;
    let options = SynthOptions {
        samples: args.samples,
        max_feedback: args.max_feedback,
        accept: args.accept,
        params: synth::SamplingParams {
            temperature: args.temperature,
            top_p: args.top_p,
            max_tokens: args.max_tokens,
            ..synth::SamplingParams::default()
        },
        sft_dialogue: if args.sft_feedback {
            SftDialogue::Feedback
        } else {
            SftDialogue::Clean
        },
        dpo_rejected: if args.dpo_executed_only {
            DpoRejected::ExecutedOnly
        } else {
            DpoRejected::AnyFailure
        },
        concurrency: concurrency * 2,
        force: args.force,
        strip_demo_code: args.strip_demo_code,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let watch = super::progress::JournalWatch::start(out, problems.len() as u64);
    // Ctrl-C drops the run between awaits: every journal line is written whole (writes
    // are synchronous), so the directory resumes with at most the calls in flight lost.
    let report = runtime.block_on(async {
        tokio::select! {
            r = synth::run_synth(out, &problems, teacher, checker, &options) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    watch.stop();
    let Some(report) = report else {
        eprintln!(
            "interrupted: finished answers are saved in {}; run the same command again to resume",
            out.display()
        );
        return Ok(ExitCode::from(130));
    };
    let report = report?;
    println!("{}", report.summary());
    Ok(
        if report.unfinished > 0 || !report.bad_problems.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Parses `--extra-body`: a JSON object.
pub(super) fn parse_extra_body(
    text: &str,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => anyhow::bail!("--extra-body {text}: expected a JSON object"),
        Err(e) => anyhow::bail!("--extra-body {text}: {e}"),
    }
}
