//! Runs one job in a fresh instance: builds the job's WASI context (no files, no
//! environment, no network, captured stdio), enforces the limits, calls the harness and
//! classifies how the job ended.

use crate::output::CappedOutput;
use crate::{Captured, Job, Outcome, PyException, SandboxError, Status};
use serde::Deserialize;
use std::time::{Duration, Instant};
use wasmtime::component::{ComponentExportIndex, InstancePre, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

/// Extra time the host waits past the deadline for a guest blocked in a host call
/// (e.g. `time.sleep`) before abandoning the call.
const HOST_CALL_GRACE: Duration = Duration::from_millis(100);

/// Per-job store state.
pub(crate) struct JobState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps each linear memory of the job and remembers whether the cap was hit.
struct MemoryCap {
    limit: u64,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 10_000_000)
    }
}

/// What the harness reports when `run` returns.
#[derive(Debug, Deserialize)]
struct HarnessReport {
    status: String,
    exit_code: i32,
    #[serde(default)]
    exception: Option<PyException>,
}

/// The prelinked runtime, shared by all jobs.
pub(crate) struct Prepared {
    pub(crate) pre: InstancePre<JobState>,
    pub(crate) run_export: ComponentExportIndex,
    /// Whether guests can be interrupted in place (epoch checks compiled in). When false,
    /// CPU-bound code past its deadline is stopped by killing the worker process.
    pub(crate) interruptible: bool,
    /// Keeps the engine (and so its epoch thread) alive as long as the runtime.
    pub(crate) _engine: std::sync::Arc<wasmtime::Engine>,
}

/// How the guest call ended, before classification.
enum CallEnd {
    Returned(String),
    Failed(wasmtime::Error),
    HostTimeout,
}

/// Runs one job to completion in a fresh store and instance.
pub(crate) async fn run_job(prepared: &Prepared, job: &Job) -> Result<Outcome, SandboxError> {
    let stdout = CappedOutput::new(job.limits.output_bytes);
    let stderr = CappedOutput::new(job.limits.output_bytes);
    let wasi = WasiCtx::builder()
        .stdin(MemoryInputPipe::new(job.stdin.clone()))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .args(&["main.py"])
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = JobState {
        wasi,
        table: ResourceTable::new(),
        memory: MemoryCap {
            limit: job.limits.memory_bytes,
            hit: false,
        },
    };
    let mut store = Store::new(prepared.pre.engine(), state);
    store.limiter(|state| &mut state.memory);

    let start = Instant::now();
    let deadline = start + job.limits.timeout;
    if prepared.interruptible {
        // Every epoch tick the guest yields to the executor; past the deadline it traps.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
    }

    let call = async {
        let instance = prepared.pre.instantiate_async(&mut store).await?;
        let run = instance
            .get_typed_func::<(&str, &[String]), (String,)>(&mut store, &prepared.run_export)?;
        let (report,) = run
            .call_async(&mut store, (job.code.as_str(), job.argv.as_slice()))
            .await?;
        wasmtime::Result::Ok(report)
    };
    let end = match tokio::time::timeout(job.limits.timeout + HOST_CALL_GRACE, call).await {
        Ok(Ok(report)) => CallEnd::Returned(report),
        Ok(Err(err)) => CallEnd::Failed(err),
        Err(_) => CallEnd::HostTimeout,
    };
    let duration = start.elapsed();
    let memory_hit = store.data().memory.hit;
    drop(store);

    let (out_bytes, out_over) = stdout.take();
    let (err_bytes, err_over) = stderr.take();
    let mut outcome = Outcome {
        status: Status::Ok,
        exit_code: Some(0),
        exception: None,
        trap: None,
        stdout: Captured {
            bytes: out_bytes,
            truncated: out_over,
        },
        stderr: Captured {
            bytes: err_bytes,
            truncated: err_over,
        },
        duration,
    };
    classify(&mut outcome, end, memory_hit, job)?;
    Ok(outcome)
}

fn classify(
    outcome: &mut Outcome,
    end: CallEnd,
    memory_hit: bool,
    job: &Job,
) -> Result<(), SandboxError> {
    let stopped = |outcome: &mut Outcome, status: Status, why: String| {
        outcome.status = status;
        outcome.exit_code = None;
        outcome.trap = Some(why);
    };
    if outcome.stdout.truncated || outcome.stderr.truncated {
        stopped(
            outcome,
            Status::OutputLimit,
            format!(
                "wrote more than {} bytes to one stream",
                job.limits.output_bytes
            ),
        );
        return Ok(());
    }
    match end {
        CallEnd::HostTimeout => stopped(
            outcome,
            Status::Timeout,
            format!("deadline of {:?} passed", job.limits.timeout),
        ),
        CallEnd::Failed(err) => {
            if let Some(exit) = err.downcast_ref::<I32Exit>() {
                outcome.exit_code = Some(exit.0);
                outcome.status = if exit.0 == 0 {
                    Status::Ok
                } else {
                    Status::Error
                };
            } else if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
                stopped(
                    outcome,
                    Status::Timeout,
                    format!("deadline of {:?} passed", job.limits.timeout),
                );
            } else if memory_hit {
                stopped(
                    outcome,
                    Status::MemoryLimit,
                    format!(
                        "needed more than {} bytes of memory ({err:#})",
                        job.limits.memory_bytes
                    ),
                );
            } else {
                stopped(outcome, Status::Trap, format!("{err:#}"));
            }
        }
        CallEnd::Returned(json) => {
            let Ok(report) = serde_json::from_str::<HarnessReport>(&json) else {
                // Only a job that tampered with the harness gets here.
                stopped(
                    outcome,
                    Status::Trap,
                    format!("unreadable harness report {json:.200?}"),
                );
                return Ok(());
            };
            outcome.exit_code = Some(report.exit_code);
            outcome.exception = report.exception;
            outcome.status = match report.status.as_str() {
                "ok" => Status::Ok,
                "syntax" => Status::Syntax,
                "exit" => Status::Error,
                // An uncaught MemoryError means the job ran out of the memory it may use
                // (the limit, or the 4 GiB wasm32 address space).
                "exception"
                    if outcome
                        .exception
                        .as_ref()
                        .is_some_and(|e| e.kind == "MemoryError") =>
                {
                    outcome.trap = Some(format!(
                        "MemoryError (limit {} bytes{})",
                        job.limits.memory_bytes,
                        if memory_hit { ", reached" } else { "" }
                    ));
                    Status::MemoryLimit
                }
                "exception" => Status::Error,
                other => {
                    stopped(
                        outcome,
                        Status::Trap,
                        format!("unknown harness status {other:?}"),
                    );
                    return Ok(());
                }
            };
        }
    }
    Ok(())
}
