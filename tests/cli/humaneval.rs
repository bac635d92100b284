//! Acceptance: all 164 HumanEval canonical programs pass in the sandbox, and all 164
//! with the body replaced by `return None` fail with an exception.

use crate::harness::{distill_exe, installed_store};
use datasets::bench::load_humaneval;
use sandbox::artifacts::HUMANEVAL;
use sandbox::{Job, Sandbox, SandboxOptions, Status, Workers};

#[test]
fn humaneval_canonical_pass_and_stubs_fail() {
    let path = installed_store()
        .file(&HUMANEVAL)
        .expect("HumanEval is installed by `distill setup`");
    let tasks = load_humaneval(&path).unwrap();
    assert_eq!(tasks.len(), 164);
    let sandbox = Sandbox::open(SandboxOptions {
        workers: Some(2),
        isolation: Workers::Processes(vec![
            distill_exe().into_os_string(),
            "sandbox".into(),
            "worker".into(),
        ]),
        ..SandboxOptions::default()
    })
    .unwrap();
    let mut jobs = Vec::new();
    for task in &tasks {
        let problem = task.to_problem();
        jobs.push(Job::new(
            problem.program_for_completion(&task.canonical_solution),
        ));
        jobs.push(Job::new(
            problem.program_for_completion("    return None\n"),
        ));
    }
    let outcomes = sandbox.run_all_blocking(jobs);
    let (mut canonical_ok, mut stub_error, mut stub_assert) = (0, 0, 0);
    for (task, pair) in tasks.iter().zip(outcomes.chunks(2)) {
        let canonical = pair[0].as_ref().unwrap();
        let stub = pair[1].as_ref().unwrap();
        assert_eq!(
            canonical.status,
            Status::Ok,
            "{}: {canonical:?}",
            task.task_id
        );
        canonical_ok += 1;
        assert_eq!(stub.status, Status::Error, "{}: {stub:?}", task.task_id);
        let exception = stub.exception.as_ref().expect("an exception");
        stub_error += 1;
        if exception.is_assertion() {
            stub_assert += 1;
        }
    }
    println!(
        "HumanEval: canonical Ok {canonical_ok}/164; return-None Error {stub_error}/164 \
         ({stub_assert} AssertionError, {} the problem's own exception)",
        stub_error - stub_assert
    );
    assert_eq!((canonical_ok, stub_error), (164, 164));
    // Most stubs fail on an assert; the rest raise from their own code (e.g. TypeError
    // on `None`), which is what the problem's tests do with a wrong answer.
    assert!(stub_assert >= 100, "{stub_assert}");
}
