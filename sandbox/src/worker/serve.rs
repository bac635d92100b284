//! The worker side: read jobs from stdin, run each in a one-worker in-process sandbox,
//! write outcomes to stdout, until stdin closes.

use super::protocol::{WireJob, WireOutcome, WireReply};
use crate::{Sandbox, SandboxError, SandboxOptions, Workers};
use std::io::{BufRead, Write};

/// Serves jobs on stdin/stdout until stdin closes. `options.workers` and
/// `options.isolation` are ignored: a worker process runs one job at a time, in-process.
pub fn serve_stdio(options: SandboxOptions) -> Result<(), SandboxError> {
    // Not interruptible: the parent enforces CPU-bound deadlines by killing this process,
    // and host-blocking calls (sleep) still end at the deadline here.
    let sandbox = Sandbox::open_with(
        SandboxOptions {
            workers: Some(1),
            isolation: Workers::Threads,
            ..options
        },
        false,
    )?;
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    send(&mut stdout, &WireReply::Ready)?;
    for line in stdin.lines() {
        let line = line.map_err(|e| SandboxError::io("<stdin>", e))?;
        let reply = match serde_json::from_str::<WireJob>(&line)
            .map_err(|e| e.to_string())
            .and_then(WireJob::into_job)
        {
            Err(err) => WireReply::Failed(format!("bad request: {err}")),
            Ok(job) => match sandbox.run_blocking(job) {
                Ok(outcome) => WireReply::Outcome(WireOutcome::from_outcome(outcome)),
                Err(err) => WireReply::Failed(err.to_string()),
            },
        };
        send(&mut stdout, &reply)?;
    }
    Ok(())
}

fn send(stdout: &mut impl Write, reply: &WireReply) -> Result<(), SandboxError> {
    let text = serde_json::to_string(reply).map_err(|e| SandboxError::Protocol(e.to_string()))?;
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| SandboxError::io("<stdout>", e))
}
