//! The parent side: N worker processes fed from one queue. A worker that dies or stops
//! answering is killed and replaced; its job ends as `Trap` (or `Timeout`), never lost.

use super::protocol::{WireJob, WireReply};
use crate::{Captured, Job, Outcome, SandboxError, Status};
use std::collections::VecDeque;
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
    /// Lines for the worker's stdin, written by a separate task so that a full stdin
    /// pipe can never stop us from reading the worker's replies (and vice versa).
    requests: mpsc::UnboundedSender<String>,
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
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(SandboxError::Engine("worker pipes unavailable".into()));
        };
        let (requests, lines) = mpsc::unbounded_channel();
        tokio::spawn(write_lines(stdin, lines));
        Ok(Worker {
            child,
            requests,
            stdout: BufReader::new(stdout).lines(),
        })
    }

    /// Queues one job for the worker.
    fn send(&self, job: &Job) -> Result<(), String> {
        let line = serde_json::to_string(&WireJob::from_job(job)).map_err(|e| e.to_string())?;
        self.requests
            .send(line)
            .map_err(|_| "worker stdin closed".to_string())
    }

    /// The worker's next reply, or why none came by `deadline`.
    async fn next_reply(&mut self, deadline: Instant) -> Result<WireReply, String> {
        let line = tokio::time::timeout_at(deadline.into(), self.stdout.next_line())
            .await
            .map_err(|_| "deadline passed; the worker process was stopped".to_string())?
            .map_err(|e| format!("worker stdout: {e}"))?
            .ok_or_else(|| "worker exited".to_string())?;
        serde_json::from_str(&line).map_err(|e| format!("bad worker reply: {e}"))
    }
}

async fn write_lines(mut stdin: ChildStdin, mut lines: mpsc::UnboundedReceiver<String>) {
    while let Some(mut line) = lines.recv().await {
        line.push('\n');
        if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
}

/// Jobs sent to one worker ahead of its replies, so it never waits for the next job.
const PIPELINE_DEPTH: usize = 2;

/// Feeds one worker process from the shared queue, keeping up to [`PIPELINE_DEPTH`] jobs
/// in flight. The job at the front of the line started when the previous reply came
/// back; if its deadline (plus grace) passes, or the worker dies, the worker is killed,
/// that job is reported stopped, and the jobs queued behind it are sent to a new worker.
async fn feed_worker(
    command: Arc<Vec<OsString>>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Request>>>,
) {
    let mut worker: Option<Worker> = None;
    let mut retry: VecDeque<Request> = VecDeque::new();
    let mut in_flight: VecDeque<Request> = VecDeque::new();
    let mut front_started = Instant::now();
    let mut closed = false;
    loop {
        while in_flight.len() < PIPELINE_DEPTH && !closed {
            let next = match retry.pop_front() {
                Some(request) => Some(request),
                None if in_flight.is_empty() => receiver.lock().await.recv().await,
                // Never wait for the queue's lock here: its holder is a feeder waiting
                // for new work, so there is none to take, and waiting would stop us
                // from reading (and enforcing the deadline of) the jobs in flight.
                None => receiver.try_lock().ok().and_then(|mut r| r.try_recv().ok()),
            };
            let Some(request) = next else {
                closed = in_flight.is_empty();
                break;
            };
            if worker.is_none() {
                match Worker::start(&command).await {
                    Ok(started) => worker = Some(started),
                    Err(err) => {
                        let _ = request.reply.send(Err(err));
                        continue;
                    }
                }
            }
            let sent = worker.as_ref().map(|w| w.send(&request.job));
            if let Some(Err(why)) = sent {
                let _ = request.reply.send(Err(SandboxError::Engine(why)));
                continue;
            }
            if in_flight.is_empty() {
                front_started = Instant::now();
            }
            in_flight.push_back(request);
        }
        let (Some(front), Some(active)) = (in_flight.front(), worker.as_mut()) else {
            if closed && in_flight.is_empty() && retry.is_empty() {
                break;
            }
            continue;
        };
        let timeout = front.job.limits.timeout;
        let reply = active
            .next_reply(front_started + timeout + WORKER_GRACE)
            .await;
        let Some(request) = in_flight.pop_front() else {
            continue;
        };
        let result = match reply {
            Ok(WireReply::Outcome(wire)) => wire.into_outcome().map_err(SandboxError::Protocol),
            Ok(WireReply::Failed(message)) => Err(SandboxError::Engine(message)),
            Ok(WireReply::Ready) => Err(SandboxError::Protocol("unexpected ready".into())),
            Err(why) => {
                // The worker hung past the deadline or died: replace it, report this job
                // as stopped, and resend the jobs queued behind it to the new worker.
                if let Some(mut dead) = worker.take() {
                    let _ = dead.child.start_kill();
                }
                while let Some(queued) = in_flight.pop_back() {
                    retry.push_front(queued);
                }
                let elapsed = front_started.elapsed();
                let status = if elapsed >= timeout {
                    Status::Timeout
                } else {
                    Status::Trap
                };
                Ok(stopped_outcome(status, why, elapsed))
            }
        };
        front_started = Instant::now();
        let _ = request.reply.send(result);
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
