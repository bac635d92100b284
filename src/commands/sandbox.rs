//! `distill sandbox run FILE.py`: run one program in the sandbox and print its outcome.

use anyhow::Context;
use sandbox::{Job, Limits, Sandbox, SandboxOptions, Workers};
use std::path::PathBuf;
use std::process::ExitCode;

/// Sandbox subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run a Python file; exit code 0 if it passed, 1 if it did not.
    Run(RunArgs),
    /// Serve jobs on stdin/stdout (a worker process of the sandbox; not for humans).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// Arguments of the hidden `distill sandbox worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The runtime component.
    #[arg(long)]
    runtime: PathBuf,
    /// Its sha256, as verified by the parent (keys the compiled-code cache; saves each
    /// new or replaced worker hashing 20 MB).
    #[arg(long)]
    runtime_sha256: String,
    /// Cache directory holding the compiled runtime.
    #[arg(long)]
    cache_dir: PathBuf,
}

/// The worker-process setting that runs jobs in `distill sandbox worker` children of
/// this executable.
pub fn process_workers() -> anyhow::Result<Workers> {
    let exe = std::env::current_exe().context("locating the distill executable")?;
    Ok(Workers::Processes(vec![
        exe.into_os_string(),
        "sandbox".into(),
        "worker".into(),
    ]))
}

/// Arguments of `distill sandbox run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The Python program.
    file: PathBuf,
    /// File whose bytes are given on stdin.
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// Wall-clock deadline, e.g. `5s`, `500ms`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// Memory limit, e.g. `256MiB`.
    #[arg(long, default_value = "512MiB")]
    memory: bytesize::ByteSize,
    /// Output limit per stream, e.g. `1MiB`.
    #[arg(long, default_value = "1MiB")]
    output: bytesize::ByteSize,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
    /// Arguments passed to the program (`sys.argv[1:]`).
    #[arg(last = true)]
    argv: Vec<String>,
}

pub fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run(args),
        Command::Worker(args) => {
            sandbox::worker::serve_stdio(SandboxOptions {
                runtime: Some(sandbox::RuntimeComponent {
                    path: args.runtime,
                    sha256: args.runtime_sha256,
                }),
                cache_dir: Some(args.cache_dir),
                ..SandboxOptions::default()
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let code = read_source(&args.file)?;
    let stdin = match &args.stdin {
        Some(path) => std::fs::read(path).with_context(|| format!("{}", path.display()))?,
        None => Vec::new(),
    };
    let limits = Limits {
        timeout: args.timeout,
        memory_bytes: args.memory.as_u64(),
        output_bytes: usize::try_from(args.output.as_u64()).unwrap_or(usize::MAX),
    };
    let sandbox = Sandbox::open(SandboxOptions {
        workers: Some(1),
        ..SandboxOptions::default()
    })?;
    let job = Job::new(code)
        .with_stdin(stdin)
        .with_argv(args.argv)
        .with_limits(limits);
    let outcome = sandbox.run_blocking(job)?;
    if args.json {
        println!("{}", serde_json::to_string(&outcome.to_record())?);
    } else {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(outcome.stdout.text().as_bytes())?;
        out.flush()?;
        eprint!("{}", outcome.stderr.text());
        eprintln!(
            "[distill sandbox] {} in {:.1} ms",
            outcome.summary(),
            outcome.duration.as_secs_f64() * 1e3
        );
    }
    Ok(if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Reads a program, refusing empty and non-UTF-8 files with a clear message.
fn read_source(path: &PathBuf) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(!bytes.is_empty(), "{}: the file is empty", path.display());
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}
