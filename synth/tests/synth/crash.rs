//! Acceptance 2: a run in a child process (this test binary, re-executed) is killed
//! with SIGKILL at several points and resumed each time; the result equals an
//! uninterrupted run: identical `sft.jsonl`/`dpo.jsonl`, no answer journaled twice.

use crate::harness::*;
use crate::server::{Reply, ScriptServer, Seen};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use synth::run_synth;

const CHILD_DIR: &str = "DISTILL_SYNTH_CRASH_CHILD_DIR";
const CHILD_URL: &str = "DISTILL_SYNTH_CRASH_CHILD_URL";

/// The script without faults, every answer 400 ms late.
fn slow(seen: &Seen) -> Reply {
    match script(seen) {
        Reply::Answer(a) => Reply::AnswerAfter(Duration::from_millis(400), a),
        _ => Reply::AnswerAfter(Duration::from_millis(400), RIGHT_ADD.into()),
    }
}

fn fast(seen: &Seen) -> Reply {
    match slow(seen) {
        Reply::AnswerAfter(_, a) => Reply::Answer(a),
        other => other,
    }
}

/// The child side: only does something when re-executed by the parent test below
/// (with the run directory and server URL in the environment).
#[test]
fn crash_child_process() {
    let (Some(dir), Some(url)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_URL).ok())
    else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut config = synth::OpenAiConfig::new(url, "scripted-model");
        config.api_key_env = "CARGO_PKG_NAME".into();
        let teacher = std::sync::Arc::new(synth::OpenAiTeacher::new(config).unwrap());
        run_synth(Path::new(&dir), &problems(), teacher, checker(), &options())
            .await
            .unwrap();
    });
}

fn journal_keys(dir: &Path) -> (usize, usize) {
    let attempts = read_lines(&dir.join("attempts.jsonl"));
    let keys: HashSet<String> = attempts
        .iter()
        .map(|a| format!("{}/{}/{}", a["problem_id"], a["sample"], a["turn"]))
        .collect();
    (attempts.len(), keys.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_runs_resume_to_the_uninterrupted_result() {
    let reference = tempfile::tempdir().unwrap();
    let server = ScriptServer::start(fast).await;
    let clean = run_synth(
        reference.path(),
        &problems(),
        teacher(&server),
        checker(),
        &options(),
    )
    .await
    .unwrap();
    assert_eq!(clean.teacher_calls, 12);

    let slow_server = ScriptServer::start(slow).await;
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut killed = 0;
    for delay_ms in [600u64, 800, 1000, 1200] {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_URL, slow_server.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        // After every crash the journal holds no answer twice.
        if dir.path().join("attempts.jsonl").exists() {
            let (lines, keys) = journal_keys(dir.path());
            assert_eq!(lines, keys, "duplicate journal entries after kill {killed}");
        }
    }
    assert!(
        killed >= 2,
        "the child finished too early to test anything ({killed} kills)"
    );
    let partial = slow_server.requests().len();
    assert!(partial > 0, "the killed children made no progress");

    let resumed = run_synth(
        dir.path(),
        &problems(),
        teacher(&server),
        checker(),
        &options(),
    )
    .await
    .unwrap();
    eprintln!(
        "crash test: {killed} kills, {partial} requests by the children, final resume: {} calls, {} cache hits, {} problems finished",
        resumed.teacher_calls, resumed.cache_hits, resumed.finished_now
    );
    for name in ["sft.jsonl", "dpo.jsonl"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            std::fs::read_to_string(reference.path().join(name)).unwrap(),
            "{name} differs from the uninterrupted run"
        );
    }
    assert_eq!(journal_keys(dir.path()), (12, 12));
    assert_eq!(read_lines(&dir.path().join("done.jsonl")).len(), 7);
    assert_eq!(
        (resumed.sft_records, resumed.dpo_records),
        (clean.sft_records, clean.dpo_records)
    );
}
