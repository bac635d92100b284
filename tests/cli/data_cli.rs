//! `distill data ...` on small files: bad records named by file:line: field, strict vs
//! lenient, dedup, decontamination and split decisions.

use crate::harness::{distill, output, stderr, write};

const ADD_A: &str = r#"{"messages":[{"role":"user","content":"Write add(a, b)."},{"role":"assistant","content":"```python\ndef add(a, b):\n    return a + b\n```"}],"meta":{"problem_id":"add"}}"#;
// The same answer with renamed variables and extra spaces: a near duplicate.
const ADD_X: &str = r#"{"messages":[{"role":"user","content":"Write add(x, y)."},{"role":"assistant","content":"```python\ndef add(x,  y):\n    return x + y\n```"}],"meta":{"problem_id":"add"}}"#;
const REV: &str = r#"{"prompt":[{"role":"user","content":"Reverse a string."}],"completion":[{"role":"assistant","content":"```python\ndef rev(s):\n    return s[::-1]\n```"}],"meta":{"problem_id":"rev"}}"#;
// HumanEval/0's canonical solution, planted.
const PLANTED: &str = r#"{"messages":[{"role":"user","content":"close elements"},{"role":"assistant","content":"    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2:\n                distance = abs(elem - elem2)\n                if distance < threshold:\n                    return True\n\n    return False\n"}]}"#;

#[test]
fn validate_reports_file_line_field_strict_and_lenient() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{ADD_A}\n{{\"messages\": 3}}\n{REV}\n{{\"messages\": [\n");
    let file = write(dir.path(), "sft.jsonl", text);
    let out = output(distill().args(["data", "validate"]).arg(&file));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sft.jsonl:2: messages:"),
        "{}",
        stderr(&out)
    );

    let out = output(distill().args(["data", "validate", "--lenient"]).arg(&file));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("sft.jsonl:2: messages:"), "{err}");
    assert!(err.contains("sft.jsonl:4:"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 records, 2 bad"));
}

#[test]
fn dedup_drops_the_renamed_copy_and_decontaminate_flags_humaneval() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "sft.jsonl",
        format!("{ADD_A}\n{ADD_X}\n{REV}\n{PLANTED}\n"),
    );
    let kept = dir.path().join("kept.jsonl");
    let report = dir.path().join("report.jsonl");
    let out = output(
        distill()
            .args(["data", "dedup"])
            .arg(&file)
            .arg("--out")
            .arg(&kept)
            .arg("--report")
            .arg(&report),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let decisions: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = decisions
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["keep", "near_duplicate", "keep", "keep"]);
    assert!(decisions[1]["of"].as_str().unwrap().starts_with("add@"));
    assert_eq!(std::fs::read_to_string(&kept).unwrap().lines().count(), 3);

    let clean = dir.path().join("clean.jsonl");
    let out = output(
        distill()
            .args(["data", "decontaminate"])
            .arg(&kept)
            .arg("--out")
            .arg(&clean),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("HumanEval/0"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&clean).unwrap().lines().count(), 2);
}

#[test]
fn split_is_deterministic_and_keeps_problems_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for p in 0..40 {
        for s in 0..3 {
            lines.push_str(&format!(
                r#"{{"messages":[{{"role":"user","content":"problem {p}"}},{{"role":"assistant","content":"answer {s}"}}],"meta":{{"problem_id":"p{p}"}}}}"#
            ));
            lines.push('\n');
        }
    }
    let file = write(dir.path(), "sft.jsonl", lines);
    let run = |tag: &str| {
        let train = dir.path().join(format!("train-{tag}.jsonl"));
        let eval = dir.path().join(format!("eval-{tag}.jsonl"));
        let out = output(
            distill()
                .args(["data", "split", "--eval-fraction", "0.25", "--seed", "7"])
                .arg(&file)
                .arg("--train")
                .arg(&train)
                .arg("--eval")
                .arg(&eval),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        (
            std::fs::read_to_string(train).unwrap(),
            std::fs::read_to_string(eval).unwrap(),
        )
    };
    let (train_a, eval_a) = run("a");
    let (train_b, eval_b) = run("b");
    assert_eq!((&train_a, &eval_a), (&train_b, &eval_b));
    assert_eq!(train_a.lines().count() + eval_a.lines().count(), 120);
    assert!(!eval_a.is_empty() && !train_a.is_empty());
    for p in 0..40 {
        let tag = format!("\"problem {p}\"");
        let in_train = train_a.matches(&tag).count();
        let in_eval = eval_a.matches(&tag).count();
        assert!(
            (in_train, in_eval) == (3, 0) || (in_train, in_eval) == (0, 3),
            "problem {p} split {in_train}/{in_eval}"
        );
    }
}
