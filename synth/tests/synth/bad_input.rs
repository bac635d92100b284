//! Acceptance 5: malformed problem lines, broken problems, an unreachable teacher, a
//! wrong API key.

use crate::harness::*;
use crate::server::{Reply, ScriptServer};
use std::sync::Arc;
use std::time::Duration;
use synth::{OpenAiConfig, OpenAiTeacher, RetryPolicy, SynthError, TeacherError, run_synth};

#[test]
fn malformed_problem_lines_are_reported_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("problems.jsonl");
    let good = |id: &str| {
        serde_json::to_string(&datasets::records::Problem::assert_style(
            id,
            "p",
            "assert True",
        ))
        .unwrap()
    };
    let text = format!(
        "{}\nnot json\n{}\n{{\"format\":\"problem.v1\",\"id\":\"x\"}}\n{}\n",
        good("a"),
        good("b"),
        good("a")
    );
    std::fs::write(&path, text).unwrap();
    let (problems, report) = synth::load_problems(&path, true).unwrap();
    let ids: Vec<&str> = problems.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "the duplicate `a` on line 5 is dropped");
    let lines: Vec<u64> = report.bad.iter().map(|b| b.line).collect();
    assert_eq!(lines, [2, 4]);
    let strict = synth::load_problems(&path, false).unwrap_err();
    assert!(strict.to_string().contains(":2:"), "{strict}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_tests_make_a_bad_problem_not_a_teacher_failure() {
    let server = ScriptServer::start(script).await;
    let dir = tempfile::tempdir().unwrap();
    let mut uncompilable =
        datasets::records::Problem::assert_style("t/uncompilable", "[[u]] x", "assert f(1 ==\n");
    uncompilable.entry_point = Some("f".into());
    let broken = problems().into_iter().find(|p| p.id == "t/broken").unwrap();
    let report = run_synth(
        dir.path(),
        &[uncompilable, broken],
        teacher(&server),
        checker(),
        &options(),
    )
    .await
    .unwrap();
    assert_eq!(server.requests().len(), 0);
    let ids: Vec<&str> = report.bad_problems.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["t/uncompilable", "t/broken"]);
    assert!(report.bad_problems[0].reason.contains("do not compile"));
    assert_eq!(
        (report.finished, report.samples, report.attempts),
        (0, 0, 0)
    );
    assert!(report.failure_classes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_stops_at_once() {
    let server =
        ScriptServer::start(|_| Reply::Raw(401, vec![], "{\"error\":\"invalid api key\"}".into()))
            .await;
    let dir = tempfile::tempdir().unwrap();
    let problems: Vec<_> = problems().into_iter().take(3).collect();
    let t = teacher(&server);
    let err = run_synth(dir.path(), &problems, t, checker(), &options())
        .await
        .unwrap_err();
    match &err {
        SynthError::Teacher(TeacherError::Auth {
            status: 401,
            key_env,
            ..
        }) => assert_eq!(key_env, "CARGO_PKG_NAME"),
        other => panic!("expected an auth error, got {other}"),
    }
    assert!(err.to_string().contains("API key"), "{err}");
    // No retries: at most one request per problem that was already in flight.
    assert!(server.requests().len() <= 3, "{}", server.requests().len());
    assert!(
        !dir.path().join("done.jsonl").exists()
            || read_lines(&dir.path().join("done.jsonl")).is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_teacher_is_reported_after_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), "m");
    config.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    let t = Arc::new(OpenAiTeacher::new(config).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let problems: Vec<_> = problems().into_iter().take(1).collect();
    let err = run_synth(dir.path(), &problems, t, checker(), &options())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SynthError::Teacher(TeacherError::Unreachable { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_failing_past_its_retries_leaves_the_problem_for_later() {
    let server = ScriptServer::start(|_| Reply::Raw(503, vec![], "busy".into())).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = OpenAiConfig::new(server.url(), "m");
    config.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    let t = Arc::new(OpenAiTeacher::new(config).unwrap());
    let problems: Vec<_> = problems().into_iter().take(2).collect();
    let report = run_synth(dir.path(), &problems, t, checker(), &options())
        .await
        .unwrap();
    assert_eq!(
        (report.unfinished, report.teacher_errors, report.finished),
        (2, 2, 0)
    );
    assert_eq!(server.requests().len(), 6, "3 tries for each of 2 problems");
}
