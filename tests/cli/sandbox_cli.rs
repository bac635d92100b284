//! `distill sandbox run`: exit codes, JSON output, and clear one-line errors for bad
//! input files.

use crate::harness::{distill, output, stderr, write};

#[test]
fn exit_code_says_pass_or_fail_and_json_is_parseable() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.py", "print(input())\n");
    let input = write(dir.path(), "in.txt", "hello\n");
    let out = output(
        distill()
            .args(["sandbox", "run"])
            .arg(&ok)
            .arg("--stdin")
            .arg(&input),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");

    let bad = write(dir.path(), "bad.py", "assert 1 == 2, 'boom'\n");
    let out = output(distill().args(["sandbox", "run", "--json"]).arg(&bad));
    assert_eq!(out.status.code(), Some(1));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "error");
    assert_eq!(record["exception"]["type"], "AssertionError");
    assert_eq!(record["exception"]["message"], "boom");

    let slow = write(dir.path(), "slow.py", "while True: pass\n");
    let out = output(
        distill()
            .args(["sandbox", "run", "--json", "--timeout", "300ms"])
            .arg(&slow),
    );
    assert_eq!(out.status.code(), Some(1));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "timeout");
}

/// Asserts a run failed with exactly one `error:` line mentioning `needle`, no panic.
fn assert_clear_error(out: &std::process::Output, needle: &str) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(errors[0].contains(needle), "{text}");
}

#[test]
fn bad_input_files_give_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.py");
    let out = output(distill().args(["sandbox", "run"]).arg(&missing));
    assert_clear_error(&out, "missing.py");

    let binary = write(dir.path(), "binary.py", [b'p', b'r', 0xff, 0xfe, b'\n']);
    let out = output(distill().args(["sandbox", "run"]).arg(&binary));
    assert_clear_error(&out, "not UTF-8");

    let empty = write(dir.path(), "empty.py", "");
    let out = output(distill().args(["sandbox", "run"]).arg(&empty));
    assert_clear_error(&out, "empty");

    let ok = write(dir.path(), "ok.py", "pass\n");
    let out = output(
        distill()
            .args(["sandbox", "run", "--timeout", "soon"])
            .arg(&ok),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn missing_runtime_says_to_run_setup() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.py", "pass\n");
    let out = output(
        distill()
            .env("DISTILL_CACHE", dir.path().join("empty-cache"))
            .env_remove("DISTILL_PYTHON_RUNTIME")
            .args(["sandbox", "run"])
            .arg(&ok),
    );
    assert_clear_error(&out, "distill setup");
}
