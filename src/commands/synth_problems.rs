//! `distill synth problems`: seed code snippets → teacher → verified, deduplicated
//! `problem.v1` records (see `synth::problem_gen`).

use super::synth::{TeacherFlags, build_teacher, open_checker};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use synth::problem_gen::{ProblemGenOptions, generate_problems, read_seeds, write_outputs};

/// Arguments of `distill synth problems`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seeds: JSON Lines, each `{"id"?: str, "code": str}` or `{"id"?: str, "snippet":
    /// str}` (a seed without `id` is named by its line number).
    #[arg(long)]
    seeds: PathBuf,
    /// OpenAI-compatible base URL up to the API version, or `local:PATH` for an
    /// in-process model (`local:` alone: the cached Qwen2.5-Coder-0.5B-Instruct).
    #[arg(long)]
    teacher: String,
    /// Model name sent to the teacher (required for a URL).
    #[arg(long)]
    model: Option<String>,
    /// Output: JSON Lines of `problem.v1` records (replaced); the report goes to
    /// `<out>.report.json`.
    #[arg(long)]
    out: PathBuf,
    /// Answers asked per seed.
    #[arg(long, default_value_t = 1)]
    per_seed: u32,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 1024)]
    max_tokens: u32,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Teacher requests in flight (default: 32 for a server, one per core for a local
    /// model).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Environment variable holding the API key (unset: no key is sent).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    api_key_env: String,
    /// JSON object laid over every request body of a URL teacher (server-specific
    /// sampling settings, e.g. `{"repeat_penalty": 1.0}` for llama-cpp-python); part of
    /// the recorded model name.
    #[arg(long, value_name = "JSON")]
    extra_body: Option<String>,
    #[command(flatten)]
    local: super::synth::LocalFlags,
    /// Retries of a failed teacher call (429, 5xx, timeouts, malformed bodies).
    #[arg(long, default_value_t = 6)]
    retries: u32,
    /// Teacher request timeout, e.g. `300s`.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    request_timeout: std::time::Duration,
    /// Sandbox deadline per program.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// Sandbox workers (default: cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Skip bad seed lines (each is reported and counted) instead of stopping.
    #[arg(long)]
    lenient: bool,
}

/// Runs `distill synth problems`.
pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let (seeds, read) = read_seeds(&args.seeds, args.lenient)?;
    for bad in &read.bad {
        eprintln!("{bad}");
    }
    let (teacher, concurrency) = build_teacher(&TeacherFlags {
        spec: &args.teacher,
        model: args.model.as_deref(),
        concurrency: args.concurrency,
        api_key_env: &args.api_key_env,
        request_timeout: args.request_timeout,
        retries: args.retries,
        extra_body: args.extra_body.as_deref(),
        quantized_prefill: args.local.quantized_prefill,
    })?;
    let checker = open_checker(args.workers, args.timeout)?;
    let defaults = ProblemGenOptions::default();
    let options = ProblemGenOptions {
        per_seed: args.per_seed,
        params: synth::SamplingParams {
            temperature: args.temperature,
            max_tokens: args.max_tokens,
            ..defaults.params.clone()
        },
        concurrency,
        ..defaults
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (problems, mut report) =
        runtime.block_on(generate_problems(&seeds, teacher, checker, &options))?;
    report.bad_seed_lines = read.bad;
    write_outputs(&args.out, &problems, &report)?;
    println!("{}", report.summary());
    println!(
        "wrote {} problems to {}",
        problems.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
