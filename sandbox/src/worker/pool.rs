//! The parent side: N worker processes fed from one queue. A worker that dies or stops
//! answering is killed and replaced; its job ends as `Trap` (or `Timeout`), never lost.

use super::protocol::{WireJob, WireReply};
use crate::{Captured, Job, Outcome, SandboxError, Status};
use std::ffi::OsString;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Time a worker gets past a job's own deadline before it is killed (guests in workers
/// are not interruptible in place, so this is how CPU-bound code is stopped).
const WORKER_GRACE: Duration = Duration::from_millis(300);

/// Time a new worker gets to load the runtime.
const WORKER_STARTUP: Duration = Duration::from_secs(120);

/// A queued job and where its result goes.
pub(crate) struct Request {
    pub(crate) job: Job,
    pub(crate) reply: oneshot::Sender<Result<Outcome, SandboxError>>,
}

/// A pool of worker processes.
pub(crate) struct ProcessPool {
    queue: mpsc::UnboundedSender<Request>,
}

impl ProcessPool {
    /// Starts `workers` feeder tasks on `executor`; each spawns its process on first use.
    pub(crate) fn start(
        executor: &tokio::runtime::Runtime,
        command: Vec<OsString>,
        workers: usize,
    ) -> Result<Self, SandboxError> {
        if command.is_empty() {
            return Err(SandboxError::Engine("empty worker command".into()));
        }
        let (queue, receiver) = mpsc::unbounded_channel::<Request>();
        let receiver = Arc::new(Mutex::new(receiver));
        let command = Arc::new(command);
        for _ in 0..workers {
            executor.spawn(feed_worker(Arc::clone(&command), Arc::clone(&receiver)));
        }
        Ok(ProcessPool { queue })
    }

    /// Queues a job.
    pub(crate) fn submit(&self, request: Request) -> Result<(), SandboxError> {
        self.queue
            .send(request)
            .map_err(|_| SandboxError::ExecutorStopped)
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    /// Starts a worker and waits until it has loaded the runtime.
    async fn start(command: &[OsString]) -> Result<Worker, SandboxError> {
        let mut worker = Self::spawn(command)?;
        let line = tokio::time::timeout(WORKER_STARTUP, worker.stdout.next_line())
            .await
            .map_err(|_| SandboxError::Engine("a worker process did not start in time".into()))?
            .map_err(|e| SandboxError::Engine(format!("worker stdout: {e}")))?;
        match line.as_deref().map(serde_json::from_str::<WireReply>) {
            Some(Ok(WireReply::Ready)) => Ok(worker),
            _ => {
                let _ = worker.child.start_kill();
                Err(SandboxError::Engine(format!(
                    "a worker process failed to start (said {line:?}; see its stderr above)"
                )))
            }
        }
    }

    fn spawn(command: &[OsString]) -> Result<Worker, SandboxError> {
        let (program, args) = command
            .split_first()
            .ok_or_else(|| SandboxError::Engine("empty worker command".into()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SandboxError::io(program, e))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        match (stdin, stdout) {
            (Some(stdin), Some(stdout)) => Ok(Worker {
                child,
                stdin,
                stdout: BufReader::new(stdout).lines(),
            }),
            _ => Err(SandboxError::Engine("worker pipes unavailable".into())),
        }
    }

    async fn call(&mut self, line: &str, wait: Duration) -> Result<WireReply, String> {
        // Sent before the clock starts; a huge job's transfer does not eat its deadline.
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("worker stdin: {e}"))?;
        self.stdin
            .write_all(b"\n")
            .await
            .map_err(|e| format!("worker stdin: {e}"))?;
        self.stdin
            .flush()
            .await
            .map_err(|e| format!("worker stdin: {e}"))?;
        let reply = tokio::time::timeout(wait, self.stdout.next_line())
            .await
            .map_err(|_| "deadline passed; the worker process was stopped".to_string())?
            .map_err(|e| format!("worker stdout: {e}"))?
            .ok_or_else(|| "worker exited".to_string())?;
        serde_json::from_str(&reply).map_err(|e| format!("bad worker reply: {e}"))
    }
}

async fn feed_worker(
    command: Arc<Vec<OsString>>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Request>>>,
) {
    let mut worker: Option<Worker> = None;
    loop {
        let request = { receiver.lock().await.recv().await };
        let Some(Request { job, reply }) = request else {
            break;
        };
        if worker.is_none() {
            match Worker::start(&command).await {
                Ok(w) => worker = Some(w),
                Err(err) => {
                    let _ = reply.send(Err(err));
                    continue;
                }
            }
        }
        let Some(active) = worker.as_mut() else {
            let _ = reply.send(Err(SandboxError::ExecutorStopped));
            continue;
        };
        let line = match serde_json::to_string(&WireJob::from_job(&job)) {
            Ok(line) => line,
            Err(err) => {
                let _ = reply.send(Err(SandboxError::Protocol(err.to_string())));
                continue;
            }
        };
        let start = Instant::now();
        let result = match active.call(&line, job.limits.timeout + WORKER_GRACE).await {
            Ok(WireReply::Outcome(wire)) => wire.into_outcome().map_err(SandboxError::Protocol),
            Ok(WireReply::Failed(message)) => Err(SandboxError::Engine(message)),
            Ok(WireReply::Ready) => Err(SandboxError::Protocol("unexpected ready".into())),
            Err(why) => {
                // The worker crashed or hung: replace it, and report the job as stopped.
                if let Some(mut dead) = worker.take() {
                    let _ = dead.child.start_kill();
                }
                let status = if start.elapsed() >= job.limits.timeout {
                    Status::Timeout
                } else {
                    Status::Trap
                };
                Ok(stopped_outcome(status, why, start.elapsed()))
            }
        };
        let _ = reply.send(result);
    }
}

fn stopped_outcome(status: Status, why: String, duration: Duration) -> Outcome {
    Outcome {
        status,
        exit_code: None,
        exception: None,
        trap: Some(why),
        stdout: Captured::default(),
        stderr: Captured::default(),
        duration,
    }
}
