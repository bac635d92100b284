//! The public entry point: a [`Sandbox`] owns the engine, the prelinked runtime and a
//! bounded pool of workers (threads of this process, or worker processes), and runs
//! [`Job`]s from sync or async code.

use crate::artifacts::{ArtifactStore, FetchMode};
use crate::runner::{JobState, Prepared, run_job};
use crate::worker::ProcessPool;
use crate::{Job, Outcome, RuntimeComponent, SandboxError, compiled, engine, runtime};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Semaphore, oneshot};
use wasmtime::component::Linker;

/// Where jobs execute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Workers {
    /// Worker threads of this process. Simple and always available; on several cores,
    /// copy-on-write page faults shared between threads limit scaling.
    #[default]
    Threads,
    /// Single-threaded worker processes started with this command (program and
    /// arguments, to which `--runtime PATH --runtime-sha256 HEX --cache-dir DIR` are
    /// appended; the parent has verified the runtime, so workers need not hash it), which must
    /// serve [`crate::worker::serve_stdio`]; the CLI's is `distill sandbox worker`.
    /// Scales with cores. Guests run without epoch checks (faster); a job past its
    /// deadline is stopped by killing its worker, which is then replaced (as is one that
    /// crashes), and its captured output is lost.
    Processes(Vec<OsString>),
}

/// How to open a sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// The runtime component. Default: the `DISTILL_PYTHON_RUNTIME` override or the
    /// cached build (see [`runtime::locate`]).
    pub runtime: Option<RuntimeComponent>,
    /// Cache directory for the compiled runtime. Default: the artifact store's root
    /// (`DISTILL_CACHE`, else `~/.cache/distill`).
    pub cache_dir: Option<PathBuf>,
    /// Number of jobs run at once. Default: the number of CPU cores.
    pub workers: Option<usize>,
    /// Threads or processes. Default: [`Workers::Threads`].
    pub isolation: Workers,
}

enum Backend {
    Threads {
        prepared: Arc<Prepared>,
        permits: Arc<Semaphore>,
    },
    Processes(ProcessPool),
}

/// Runs Python jobs, each in a fresh interpreter instance, at most `workers` at a time.
///
/// [`Sandbox::run`] may be awaited from any tokio runtime: jobs execute on the
/// sandbox's own workers, never on the caller's threads.
pub struct Sandbox {
    backend: Backend,
    workers: usize,
    executor: Option<tokio::runtime::Runtime>,
}

impl Sandbox {
    /// Opens a sandbox with default options (the installed runtime, one worker thread
    /// per core).
    pub fn open_default() -> Result<Sandbox, SandboxError> {
        Self::open(SandboxOptions::default())
    }

    /// Opens a sandbox: loads (or compiles once and caches) the runtime, prelinks it and
    /// starts the workers.
    pub fn open(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        Self::open_with(options, true)
    }

    /// [`Sandbox::open`], choosing whether in-process guests are interruptible.
    pub(crate) fn open_with(
        options: SandboxOptions,
        interruptible: bool,
    ) -> Result<Sandbox, SandboxError> {
        let store = ArtifactStore::from_env(FetchMode::Offline);
        let runtime = match options.runtime {
            Some(runtime) => runtime,
            None => runtime::locate(&store)?,
        };
        let cache_dir = options
            .cache_dir
            .unwrap_or_else(|| store.root().to_path_buf());
        let workers = options
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        // A worker process (one job at a time, not interruptible) runs its job on the
        // calling thread: no second thread touching the address space, no hand-offs.
        let mut builder = if workers == 1 && !interruptible {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(workers);
            b
        };
        let executor = builder
            .thread_name("distill-sandbox")
            .enable_all()
            .build()
            .map_err(|e| SandboxError::Engine(format!("cannot start worker threads: {e}")))?;
        let backend = match options.isolation {
            Workers::Threads => Backend::Threads {
                prepared: Arc::new(prepare(&runtime, &cache_dir, interruptible)?),
                permits: Arc::new(Semaphore::new(workers)),
            },
            Workers::Processes(mut command) => {
                // Compile (or validate the cached artifact) once here, so the workers
                // only ever load it, and fail early if the runtime is unusable.
                drop(prepare(&runtime, &cache_dir, false)?);
                command.extend([
                    OsString::from("--runtime"),
                    runtime.path.clone().into_os_string(),
                    OsString::from("--runtime-sha256"),
                    OsString::from(&runtime.sha256),
                    OsString::from("--cache-dir"),
                    cache_dir.into_os_string(),
                ]);
                Backend::Processes(ProcessPool::start(&executor, command, workers)?)
            }
        };
        Ok(Sandbox {
            backend,
            workers,
            executor: Some(executor),
        })
    }

    /// How many jobs run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Queues a job; the receiver yields its outcome.
    fn submit(
        &self,
        job: Job,
    ) -> Result<oneshot::Receiver<Result<Outcome, SandboxError>>, SandboxError> {
        let executor = self
            .executor
            .as_ref()
            .ok_or(SandboxError::ExecutorStopped)?;
        let (reply, receiver) = oneshot::channel();
        match &self.backend {
            Backend::Threads { prepared, permits } => {
                let prepared = Arc::clone(prepared);
                let permits = Arc::clone(permits);
                executor.spawn(async move {
                    let result = match permits.acquire_owned().await {
                        Ok(_permit) => run_job(&prepared, &job).await,
                        Err(_) => Err(SandboxError::ExecutorStopped),
                    };
                    let _ = reply.send(result);
                });
            }
            Backend::Processes(pool) => {
                pool.submit(crate::worker::Request { job, reply })?;
            }
        }
        Ok(receiver)
    }

    /// Runs one job on the sandbox's workers and waits for its outcome without blocking
    /// the caller's async runtime.
    pub async fn run(&self, job: Job) -> Result<Outcome, SandboxError> {
        let receiver = self.submit(job)?;
        receiver.await.map_err(|_| SandboxError::ExecutorStopped)?
    }

    /// Runs many jobs, `workers` at a time, returning outcomes in input order.
    pub async fn run_all(&self, jobs: Vec<Job>) -> Vec<Result<Outcome, SandboxError>> {
        let queued: Vec<_> = jobs.into_iter().map(|job| self.submit(job)).collect();
        let mut outcomes = Vec::with_capacity(queued.len());
        for receiver in queued {
            outcomes.push(match receiver {
                Ok(receiver) => receiver.await.unwrap_or(Err(SandboxError::ExecutorStopped)),
                Err(err) => Err(err),
            });
        }
        outcomes
    }

    /// Runs one job from synchronous code. Must not be called from inside an async
    /// runtime (use [`Sandbox::run`] there).
    pub fn run_blocking(&self, job: Job) -> Result<Outcome, SandboxError> {
        let executor = self
            .executor
            .as_ref()
            .ok_or(SandboxError::ExecutorStopped)?;
        executor.block_on(self.run(job))
    }

    /// Runs many jobs from synchronous code, `workers` at a time, in input order. Must
    /// not be called from inside an async runtime.
    pub fn run_all_blocking(&self, jobs: Vec<Job>) -> Vec<Result<Outcome, SandboxError>> {
        match self.executor.as_ref() {
            Some(executor) => executor.block_on(self.run_all(jobs)),
            None => jobs
                .iter()
                .map(|_| Err(SandboxError::ExecutorStopped))
                .collect(),
        }
    }
}

/// Builds the engine, loads the compiled runtime and prelinks it with WASI.
fn prepare(
    runtime: &RuntimeComponent,
    cache_dir: &std::path::Path,
    interruptible: bool,
) -> Result<Prepared, SandboxError> {
    let engine = Arc::new(engine::new_engine(interruptible)?);
    if interruptible {
        engine::start_epoch_ticker(&engine);
    }
    let component = compiled::load_component(&engine, runtime, cache_dir)?;
    let mut linker = Linker::<JobState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(SandboxError::engine)?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(SandboxError::engine)?;
    let run_export = component
        .get_export_index(None, "run")
        .ok_or_else(|| SandboxError::Protocol("the runtime exports no `run`".into()))?;
    Ok(Prepared {
        pre,
        run_export,
        interruptible,
        _engine: engine,
    })
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime's context panics; this does not.
        if let Some(executor) = self.executor.take() {
            executor.shutdown_background();
        }
    }
}
