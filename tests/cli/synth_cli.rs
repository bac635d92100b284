//! `distill synth` through the real binary: a run against an unreachable teacher stops
//! with one clear error and leaves a resumable run directory; bad problem files are
//! named by line.

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

#[test]
fn bad_problem_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let problems = write(
        dir.path(),
        "problems.jsonl",
        format!("{PROBLEM}\n{{\"format\":\"problem.v1\",\"id\":7}}\n"),
    );
    let out = output(
        distill()
            .args([
                "synth",
                "--teacher",
                "http://127.0.0.1:9/v1",
                "--model",
                "m",
            ])
            .arg("--problems")
            .arg(&problems)
            .arg("--out")
            .arg(dir.path().join("run")),
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("problems.jsonl:2:"), "{text}");
}
