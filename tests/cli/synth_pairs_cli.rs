//! `distill synth pairs` through the real binary on a hand-written run directory: the
//! teacher's verified answers meet the student's failures on the same problem, a bad
//! chosen record is named by file and line, and a directory that is not a run is one
//! clear error.

use crate::harness::{distill, output, stderr, write};
use serde_json::{Value, json};
use std::path::Path;

const SYSTEM: &str = "Answer with one python block.";

fn prompt(problem: &str) -> Value {
    json!([
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": format!("Write {problem}.")},
    ])
}

fn sft_line(problem: Option<&str>, answer: &str) -> String {
    let mut messages = prompt(problem.unwrap_or("x"));
    messages
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "assistant", "content": answer}));
    let mut record = json!({"format": "sft.v1", "messages": messages, "meta": {}});
    if let Some(id) = problem {
        record["meta"]["problem_id"] = json!(id);
    }
    record.to_string()
}

fn attempt_line(problem: &str, sample: u32, status: &str, code: &str) -> String {
    json!({
        "format": "attempt.v1",
        "problem_id": problem,
        "sample": sample,
        "turn": 0,
        "messages": prompt(problem),
        "completion": format!("Sure!\n```python\n{code}\n```"),
        "code": code,
        "outcome": {"status": status, "stdout": "", "stderr": "", "exit_code": 1,
                    "duration_ms": 3},
        "teacher": {"model": "student.gguf", "params": {"temperature": 0.8}},
    })
    .to_string()
}

/// A student run directory: `add` failed once and passed once, `sub` raised.
fn student_run(dir: &Path) -> std::path::PathBuf {
    let run = dir.join("student");
    std::fs::create_dir_all(&run).unwrap();
    let config = json!({
        "format": "synth-run.v1",
        "fingerprint": "0",
        "settings": {"model": "student.gguf", "strip_demo_code": true},
        "tool_version": "test",
    });
    write(&run, "config.json", config.to_string());
    let attempts = [
        attempt_line("add", 0, "failed", "def add(a, b):\n    return a - b"),
        attempt_line("add", 1, "passed", "def add(a, b):\n    return a + b"),
        attempt_line("sub", 0, "error", "def sub(a, b):\n    return a.b"),
    ];
    write(&run, "attempts.jsonl", attempts.join("\n") + "\n");
    run
}

fn teacher_sft(dir: &Path) -> std::path::PathBuf {
    let lines = [
        sft_line(
            Some("add"),
            "```python\ndef add(a, b):\n    return a + b\n```",
        ),
        sft_line(
            Some("sub"),
            "```python\ndef sub(a, b):\n    return a - b\n```",
        ),
        sft_line(None, "```python\npass\n```"),
    ];
    write(dir, "sft.jsonl", lines.join("\n") + "\n")
}

#[test]
fn pairs_teacher_answers_with_student_failures() {
    let dir = tempfile::tempdir().unwrap();
    let run = student_run(dir.path());
    let sft = teacher_sft(dir.path());
    let pairs = dir.path().join("pairs.jsonl");
    let mut cmd = distill();
    cmd.args(["synth", "pairs", "--chosen"])
        .arg(&sft)
        .arg("--rejected-run")
        .arg(&run)
        .arg("--out")
        .arg(&pairs);

    // Strict: the record without a problem id is named and nothing is written.
    let refused = output(&mut cmd);
    let text = stderr(&refused);
    assert_ne!(refused.status.code(), Some(0), "{text}");
    assert!(text.contains("sft.jsonl:3: meta.problem_id"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(!pairs.exists());

    let done = output(cmd.arg("--lenient"));
    let text = stderr(&done);
    assert_eq!(done.status.code(), Some(0), "{text}");
    assert!(text.contains("sft.jsonl:3: meta.problem_id"), "{text}");
    let written: Vec<Value> = std::fs::read_to_string(&pairs)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written.len(), 2);
    assert_eq!(written[0]["format"], "dpo.v1");
    assert_eq!(written[0]["prompt"], prompt("add"));
    assert_eq!(
        written[0]["chosen"][0]["content"],
        "```python\ndef add(a, b):\n    return a + b\n```"
    );
    // The student's run stripped demo code, so its answer is the checked code alone.
    assert_eq!(
        written[0]["rejected"][0]["content"],
        "```python\ndef add(a, b):\n    return a - b\n```"
    );
    assert_eq!(written[0]["meta"]["rejected"]["model"], "student.gguf");
    assert_eq!(written[1]["meta"]["problem_id"], "sub");
    assert_eq!(written[1]["meta"]["rejected"]["class"], "error");

    // The written file is a valid DPO file for the trainer's reader.
    let check = output(
        distill()
            .args(["data", "validate", "--kind", "dpo"])
            .arg(&pairs),
    );
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

#[test]
fn a_directory_that_is_not_a_run_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let sft = teacher_sft(dir.path());
    let out = output(
        distill()
            .args(["synth", "pairs", "--chosen"])
            .arg(&sft)
            .arg("--rejected-run")
            .arg(dir.path())
            .arg("--out")
            .arg(dir.path().join("pairs.jsonl")),
    );
    let line = single_error_line(&out);
    assert!(line.contains("not a synth run directory"), "{line}");
}

/// The one `error:` line of a failed run (exit code 2, no panic).
fn single_error_line(out: &std::process::Output) -> String {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    errors[0].to_string()
}

#[test]
fn a_missing_chosen_file_names_the_file_and_the_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-sft.jsonl");
    let out = output(
        distill()
            .args(["synth", "pairs", "--chosen"])
            .arg(&missing)
            .arg("--rejected-run")
            .arg(student_run(dir.path()))
            .arg("--out")
            .arg(dir.path().join("pairs.jsonl")),
    );
    let line = single_error_line(&out);
    assert!(line.contains("no-such-sft.jsonl"), "{line}");
    // The library error quotes the OS reason and also returns it as its cause; the
    // line shows it once.
    assert_eq!(line.matches("(os error 2)").count(), 1, "{line}");
}
