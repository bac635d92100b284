//! The worker-process executor: right outcomes for mixed jobs, CPU-bound code stopped at
//! its deadline by replacing the worker, and nothing lost when a worker is replaced.

use crate::harness::distill_exe;
use sandbox::{Job, Limits, Sandbox, SandboxOptions, Status, Workers};
use std::time::{Duration, Instant};

fn process_sandbox() -> Sandbox {
    Sandbox::open(SandboxOptions {
        workers: Some(2),
        isolation: Workers::Processes(vec![
            distill_exe().into_os_string(),
            "sandbox".into(),
            "worker".into(),
        ]),
        ..SandboxOptions::default()
    })
    .unwrap()
}

fn deadline(ms: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(ms),
        ..Limits::default()
    }
}

#[test]
fn mixed_jobs_through_worker_processes() {
    let sandbox = process_sandbox();
    let mut jobs = Vec::new();
    let mut expected = Vec::new();
    for i in 0..200u64 {
        let (job, status) = match i % 5 {
            0 => (Job::new(format!("assert {i} + 1 == {}", i + 1)), Status::Ok),
            1 => (Job::new(format!("assert {i} == -1")), Status::Error),
            2 if i % 25 == 2 => (
                Job::new("while True: pass").with_limits(deadline(300)),
                Status::Timeout,
            ),
            2 => (
                Job::new("import time\ntime.sleep(5)").with_limits(deadline(200)),
                Status::Timeout,
            ),
            3 => (
                Job::new("print(input()[::-1])").with_stdin(format!("{i}\n")),
                Status::Ok,
            ),
            _ => (Job::new("x = (1,"), Status::Syntax),
        };
        jobs.push(job);
        expected.push(status);
    }
    let outcomes = sandbox.run_all_blocking(jobs);
    for (i, (outcome, want)) in outcomes.iter().zip(&expected).enumerate() {
        let outcome = outcome.as_ref().unwrap();
        assert_eq!(outcome.status, *want, "job {i}: {outcome:?}");
        if i % 5 == 3 {
            let reversed: String = i.to_string().chars().rev().collect();
            assert_eq!(outcome.stdout.text(), format!("{reversed}\n"));
        }
    }
}

#[test]
fn cpu_bound_deadline_kills_only_that_job() {
    let sandbox = process_sandbox();
    let start = Instant::now();
    let stuck = sandbox.run_blocking(Job::new("while True: pass").with_limits(deadline(500)));
    let stuck = stuck.unwrap();
    assert_eq!(stuck.status, Status::Timeout, "{stuck:?}");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    // The replaced worker serves the next jobs normally.
    for i in 0..5 {
        let o = sandbox
            .run_blocking(Job::new(format!("print({i})")))
            .unwrap();
        assert_eq!(o.stdout.text(), format!("{i}\n"));
    }
}
