//! `distill synth` through the real binary: a run against an unreachable teacher stops
//! with one clear error and leaves a resumable run directory; bad problem files are
//! named by line; `--extra-body` with a local teacher is refused; Ctrl-C stops a run
//! cleanly with a resume hint.

use crate::harness::{distill, output, stderr, write};

const PROBLEM: &str = r#"{"format":"problem.v1","id":"add","prompt":"Write add(a, b) returning a + b.","tests":"assert add(2, 3) == 5\n","entry_point":"add","test_type":"assert"}"#;

#[test]
fn unreachable_teacher_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let problems = write(dir.path(), "problems.jsonl", format!("{PROBLEM}\n"));
    let out = output(
        distill()
            .args([
                "synth",
                "--teacher",
                "http://127.0.0.1:9/v1",
                "--model",
                "m",
            ])
            .args([
                "--retries",
                "0",
                "--request-timeout",
                "2s",
                "--samples",
                "1",
            ])
            .arg("--problems")
            .arg(&problems)
            .arg("--out")
            .arg(dir.path().join("run")),
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(errors[0].contains("127.0.0.1:9"), "{text}");
    assert!(dir.path().join("run").join("config.json").exists());
}

/// Runs `distill synth ARGS` on a problems file holding `problems`, expects exit code 2
/// (bad input) and returns stderr.
fn synth_refused(problems: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let problems = write(dir.path(), "problems.jsonl", problems);
    let out = output(
        distill()
            .arg("synth")
            .args(args)
            .arg("--problems")
            .arg(&problems)
            .arg("--out")
            .arg(dir.path().join("run")),
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    text
}

#[test]
fn extra_body_is_for_url_teachers_only() {
    let text = synth_refused(
        &format!("{PROBLEM}\n"),
        &["--teacher", "local:", "--extra-body", "{}"],
    );
    assert!(
        text.contains("--extra-body applies to a URL teacher"),
        "{text}"
    );
}

#[test]
fn quantized_prefill_is_for_local_teachers_only() {
    let text = synth_refused(
        &format!("{PROBLEM}\n"),
        &[
            "--teacher",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--quantized-prefill",
        ],
    );
    assert!(
        text.contains("--quantized-prefill applies to a `local:` teacher"),
        "{text}"
    );
}

#[test]
fn bad_problem_lines_are_named() {
    let text = synth_refused(
        &format!("{PROBLEM}\n{{\"format\":\"problem.v1\",\"id\":7}}\n"),
        &["--teacher", "http://127.0.0.1:9/v1", "--model", "m"],
    );
    assert!(text.contains("problems.jsonl:2:"), "{text}");
}

#[test]
fn synth_problems_names_a_bad_seed_line() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = write(
        dir.path(),
        "seeds.jsonl",
        "{\"id\": \"a\", \"code\": \"x = 1\"}\n{\"id\": \"b\", \"text\": \"x = 2\"}\n",
    );
    let out = output(
        distill()
            .args([
                "synth",
                "problems",
                "--teacher",
                "http://127.0.0.1:9/v1",
                "--model",
                "m",
            ])
            .arg("--seeds")
            .arg(&seeds)
            .arg("--out")
            .arg(dir.path().join("problems.jsonl")),
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("seeds.jsonl:2: code: required field is missing"),
        "{text}"
    );
    assert!(!dir.path().join("problems.jsonl").exists());
}

#[test]
fn ctrl_c_stops_cleanly_with_a_resume_hint() {
    use std::io::Read;
    // A teacher that accepts connections and never answers: the run waits on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let problems = write(dir.path(), "problems.jsonl", format!("{PROBLEM}\n"));
    let run = dir.path().join("run");
    let mut child = distill()
        .args(["synth", "--teacher"])
        .arg(format!("http://127.0.0.1:{port}/v1"))
        .args(["--model", "m", "--samples", "1", "--request-timeout", "60s"])
        .arg("--problems")
        .arg(&problems)
        .arg("--out")
        .arg(&run)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run directory exists (the run has started), then send SIGINT.
    let started = std::time::Instant::now();
    while !run.join("config.json").exists() {
        assert!(started.elapsed().as_secs() < 60, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(
        text.contains("run the same command again to resume"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    // Nothing half-written: every journal line parses.
    for name in ["attempts.jsonl", "done.jsonl"] {
        let journal = std::fs::read_to_string(run.join(name)).unwrap_or_default();
        for line in journal.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }
}
