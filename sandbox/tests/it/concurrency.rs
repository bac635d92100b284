//! Many mixed jobs through the executor: right outcomes, and a timeout never delays the
//! others beyond its own deadline.

use crate::harness::{quick_limits, sandbox};
use sandbox::{Job, Sandbox, SandboxOptions, Status};
use std::time::{Duration, Instant};

fn mixed_jobs(n: usize) -> Vec<(Job, Status)> {
    (0..n)
        .map(|i| match i % 4 {
            0 => (Job::new(format!("assert {i} * 2 == {}", i * 2)), Status::Ok),
            1 => (Job::new(format!("assert {i} == {}", i + 1)), Status::Error),
            2 if i % 20 == 2 => (
                Job::new("while True: pass").with_limits(quick_limits(300)),
                Status::Timeout,
            ),
            2 => (Job::new(format!("print({i})")), Status::Ok),
            _ => (Job::new("def f(:"), Status::Syntax),
        })
        .collect()
}

#[test]
fn two_hundred_mixed_jobs_on_two_workers() {
    let cases = mixed_jobs(200);
    let expected: Vec<Status> = cases.iter().map(|(_, s)| *s).collect();
    let jobs: Vec<Job> = cases.into_iter().map(|(j, _)| j).collect();
    let start = Instant::now();
    let outcomes = sandbox().run_all_blocking(jobs);
    let elapsed = start.elapsed();
    for (i, (outcome, want)) in outcomes.iter().zip(&expected).enumerate() {
        let outcome = outcome.as_ref().expect("sandbox failure");
        assert_eq!(outcome.status, *want, "job {i}: {outcome:?}");
        if *want == Status::Ok && i % 4 == 2 {
            assert_eq!(outcome.stdout.text(), format!("{i}\n"));
        }
    }
    // 10 timeouts of 0.3 s on 2 workers cost about 1.5 s; everything else is fast.
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn a_timeout_does_not_delay_other_jobs() {
    // One worker is stuck in a 3 s loop; quick jobs submitted after it still finish
    // on the other worker long before the loop's deadline.
    // A sandbox of its own, so other tests running in parallel cannot take its workers.
    let runner = Sandbox::open(SandboxOptions {
        workers: Some(2),
        ..SandboxOptions::default()
    })
    .unwrap();
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    executor.block_on(async {
        let slow = runner.run(Job::new("while True: pass").with_limits(quick_limits(3000)));
        let quick = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let start = Instant::now();
            for i in 0..20 {
                let o = runner
                    .run(Job::new(format!("assert {i} == {i}")))
                    .await
                    .unwrap();
                assert_eq!(o.status, Status::Ok);
            }
            start.elapsed()
        };
        let (slow, quick_elapsed) = tokio::join!(slow, quick);
        assert_eq!(slow.unwrap().status, Status::Timeout);
        assert!(
            quick_elapsed < Duration::from_millis(2000),
            "{quick_elapsed:?}"
        );
    });
}
