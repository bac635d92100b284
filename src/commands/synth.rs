//! `distill synth`: teacher answers checked in the sandbox with error feedback, written
//! as verified SFT records and DPO pairs in a resumable run directory.

use anyhow::Context;
use sandbox::artifacts::{ArtifactStore, FetchMode};
use sandbox::{Limits, Sandbox, SandboxOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use synth::{Checker, DpoRejected, OpenAiConfig, OpenAiTeacher, SftDialogue, SynthOptions};

/// Arguments of `distill synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Problems (JSON Lines of `Problem` records).
    #[arg(long)]
    problems: PathBuf,
    /// OpenAI-compatible base URL up to the API version, e.g. `http://127.0.0.1:8000/v1`.
    #[arg(long)]
    teacher: String,
    /// Model name sent to the teacher.
    #[arg(long)]
    model: String,
    /// Run directory (re-running the same command resumes).
    #[arg(long)]
    out: PathBuf,
    /// Environment variable holding the API key (unset: no key is sent).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    api_key_env: String,
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
    /// Teacher requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Retries of a failed teacher call (429, 5xx, timeouts, malformed bodies).
    #[arg(long, default_value_t = 6)]
    retries: u32,
    /// Teacher request timeout, e.g. `300s`.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    request_timeout: std::time::Duration,
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

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !args.teacher.starts_with("local:"),
        "--teacher local:DIR (the in-process GGUF teacher) is not available yet; \
         serve the model behind an OpenAI-compatible server and pass its URL"
    );
    let (problems, read) = synth::load_problems(&args.problems, args.lenient)?;
    for bad in &read.bad {
        eprintln!("{bad}");
    }
    let mut teacher = OpenAiConfig::new(&args.teacher, &args.model);
    teacher.api_key_env = args.api_key_env.clone();
    teacher.request_timeout = args.request_timeout;
    teacher.max_concurrency = args.concurrency;
    teacher.retry.max_retries = args.retries;
    let teacher: Arc<dyn synth::Teacher> = Arc::new(OpenAiTeacher::new(teacher)?);

    let store = ArtifactStore::from_env(FetchMode::Offline);
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
        concurrency: args.concurrency * 2,
        force: args.force,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(synth::run_synth(
        &args.out, &problems, teacher, checker, &options,
    ))?;
    println!("{}", report.summary());
    Ok(
        if report.unfinished > 0 || !report.bad_problems.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}
