//! Resume: a finished run re-run makes no calls; torn journal tails are repaired and
//! the outputs come out identical; other settings refuse to resume unless forced.

use crate::harness::*;
use crate::server::ScriptServer;
use std::collections::HashSet;
use std::path::Path;
use synth::{SynthError, run_synth};

fn outputs(dir: &Path) -> (String, String) {
    (
        std::fs::read_to_string(dir.join("sft.jsonl")).unwrap(),
        std::fs::read_to_string(dir.join("dpo.jsonl")).unwrap(),
    )
}

fn tear(path: &Path, bytes: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - bytes).unwrap();
}

/// The script without the fault injection (fast).
fn plain(seen: &crate::server::Seen) -> crate::server::Reply {
    if seen.tag == "faults" {
        return crate::server::Reply::Answer(RIGHT_ADD.into());
    }
    script(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_torn_journals_with_identical_outputs_and_no_new_calls() {
    let dir = tempfile::tempdir().unwrap();
    let problems = problems();
    let first_server = ScriptServer::start(plain).await;
    let first = run_synth(
        dir.path(),
        &problems,
        teacher(&first_server),
        checker(),
        &options(),
    )
    .await
    .unwrap();
    assert_eq!(first_server.requests().len(), 12);
    assert_eq!(first.teacher_calls, 12);
    let expected = outputs(dir.path());
    assert!(!expected.0.is_empty() && !expected.1.is_empty());

    // Finished: nothing to do, no calls.
    let server = ScriptServer::start(plain).await;
    let again = run_synth(
        dir.path(),
        &problems,
        teacher(&server),
        checker(),
        &options(),
    )
    .await
    .unwrap();
    assert_eq!(server.requests().len(), 0);
    assert_eq!(
        (again.teacher_calls, again.cache_hits, again.finished_now),
        (0, 0, 0)
    );
    assert_eq!(outputs(dir.path()), expected);

    // A crash mid-write: the last lines of both journals are torn, and the last two
    // problems are forgotten as done. The rerun redoes them from the cache.
    let done_path = dir.path().join("done.jsonl");
    let done = std::fs::read_to_string(&done_path).unwrap();
    let lines: Vec<&str> = done.lines().collect();
    let keep = lines[..lines.len() - 2].join("\n") + "\n" + &lines[lines.len() - 2][..10];
    std::fs::write(&done_path, keep).unwrap();
    tear(&dir.path().join("attempts.jsonl"), 7);
    let server = ScriptServer::start(plain).await;
    let resumed = run_synth(
        dir.path(),
        &problems,
        teacher(&server),
        checker(),
        &options(),
    )
    .await
    .unwrap();
    assert_eq!(
        server.requests().len(),
        0,
        "every call must come from the cache"
    );
    assert_eq!(resumed.teacher_calls, 0);
    assert!(resumed.cache_hits >= 1);
    assert_eq!(resumed.finished_now, 2);
    assert_eq!(outputs(dir.path()), expected);
    // Journals are whole again: every line parses, no (problem, sample, turn) twice.
    let attempts = read_lines(&dir.path().join("attempts.jsonl"));
    assert_eq!(attempts.len(), 12);
    let keys: HashSet<(String, u64, u64)> = attempts
        .iter()
        .map(|a| {
            (
                a["problem_id"].as_str().unwrap().to_string(),
                a["sample"].as_u64().unwrap(),
                a["turn"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 12);
    assert_eq!(read_lines(&done_path).len(), 7);
    assert_eq!(resumed.sft_records, first.sft_records);
    assert_eq!(resumed.dpo_records, first.dpo_records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_settings_refuse_to_resume_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let problems: Vec<_> = problems()
        .into_iter()
        .filter(|p| p.id == "t/stdio")
        .collect();
    let server = ScriptServer::start(plain).await;
    run_synth(
        dir.path(),
        &problems,
        teacher(&server),
        checker(),
        &options(),
    )
    .await
    .unwrap();
    let changed = synth::SynthOptions {
        max_feedback: 2,
        ..options()
    };
    let err = run_synth(dir.path(), &problems, teacher(&server), checker(), &changed)
        .await
        .unwrap_err();
    assert!(matches!(err, SynthError::ConfigMismatch { .. }), "{err}");
    // Concurrency does not change results, so it does not block a resume.
    let wider = synth::SynthOptions {
        concurrency: 1,
        ..options()
    };
    run_synth(dir.path(), &problems, teacher(&server), checker(), &wider)
        .await
        .unwrap();
    let forced = synth::SynthOptions {
        force: true,
        ..changed
    };
    run_synth(dir.path(), &problems, teacher(&server), checker(), &forced)
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 1);
}
