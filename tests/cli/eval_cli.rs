//! `distill eval` through the real binary: argument errors are one clear message
//! (unknown bench, a path that is not a model, k above the samples, a URL without a
//! model name, an unreachable server), and `--compare` on two result directories.

use crate::harness::{distill, output, stderr, write};
use std::path::Path;

/// Runs `distill eval ARGS` and returns (exit code, stderr).
fn eval(args: &[&str]) -> (Option<i32>, String) {
    let out = output(distill().arg("eval").args(args));
    let text = stderr(&out);
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code(), text)
}

#[test]
fn unknown_bench_lists_the_known_ones() {
    let (code, text) = eval(&["--model", "http://127.0.0.1:9/v1", "--bench", "apps"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("unknown benchmark `apps`; known benchmarks: humaneval"),
        "{text}"
    );
}

#[test]
fn a_path_that_is_not_a_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "model.safetensors.txt", "hello");
    let (code, text) = eval(&["--model", file.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("model.safetensors.txt: not a model"),
        "{text}"
    );
    let missing = dir.path().join("no-such-model");
    let (code, text) = eval(&["--model", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no-such-model: not a model"), "{text}");
    let (code, text) = eval(&["--model", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("neither config.json"), "{text}");
    // A LoRA adapter directory is not a model; the error says what to do.
    let adapter = dir.path().join("adapter");
    std::fs::create_dir(&adapter).unwrap();
    write(&adapter, "adapter_config.json", "{}");
    write(&adapter, "adapter_model.safetensors", "");
    let (code, text) = eval(&["--model", adapter.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--adapter"), "{text}");
}

#[test]
fn settings_errors_are_caught_before_any_work() {
    let (code, text) = eval(&[
        "--model",
        "http://127.0.0.1:9/v1",
        "--served-model",
        "m",
        "--samples",
        "5",
        "--k",
        "1,10",
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("pass@10 needs 1 <= k <= samples (5)"),
        "{text}"
    );
    let (code, text) = eval(&["--model", "http://127.0.0.1:9/v1"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--served-model"), "{text}");
    // f32 arithmetic and the prefill path are a local model's options.
    for flag in ["--dequantize", "--quantized-prefill"] {
        let (code, text) = eval(&[
            "--model",
            "http://127.0.0.1:9/v1",
            "--served-model",
            "m",
            flag,
        ]);
        assert_eq!(code, Some(2), "{flag}: {text}");
        assert!(
            text.contains("--dequantize and --quantized-prefill apply to a local model"),
            "{flag}: {text}"
        );
    }
    // --extra-body: a JSON object, for a URL model only
    let (code, text) = eval(&[
        "--model",
        "http://127.0.0.1:9/v1",
        "--served-model",
        "m",
        "--extra-body",
        "[1]",
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("--extra-body [1]: expected a JSON object"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let gguf = write(dir.path(), "m.gguf", "GGUF and nothing else");
    let (code, text) = eval(&["--model", gguf.to_str().unwrap(), "--extra-body", "{}"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("--extra-body applies to a URL model"),
        "{text}"
    );
    // Neither --model nor --compare: clap's usage error.
    let (code, text) = eval(&[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--model"), "{text}");
}

#[test]
fn an_unreachable_server_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (code, text) = eval(&[
        "--model",
        "http://127.0.0.1:9/v1",
        "--served-model",
        "m",
        "--limit",
        "2",
        "--retries",
        "0",
        "--request-timeout",
        "2s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(errors[0].contains("127.0.0.1:9"), "{text}");
    // The directory is an eval now: config written, summary of nothing done.
    assert!(out.join("config.json").exists());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["unfinished"], 2);
}

/// Writes `results.jsonl` with `passed` of 2 samples passing for each of `ids`.
fn results(dir: &Path, ids: &[&str], passed: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    for id in ids {
        let samples: Vec<serde_json::Value> = (0..2u32)
            .map(|s| {
                serde_json::json!({
                    "sample": s, "status": if s < passed { "passed" } else { "failed" },
                    "code": "pass\n", "completion": "```python\npass\n```",
                    "detail": "", "duration_ms": 1, "generation_ms": 1,
                })
            })
            .collect();
        let line = serde_json::json!({
            "format": "eval-result.v1", "problem_id": id, "n": 2, "c": passed,
            "pass_at_k": {"1": f64::from(passed) / 2.0}, "samples": samples,
        });
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(dir.join("results.jsonl"), text).unwrap();
}

#[test]
fn compare_prints_the_difference_and_rejects_different_problem_sets() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    results(&a, &["HumanEval/0", "HumanEval/1"], 0);
    results(&b, &["HumanEval/0", "HumanEval/1"], 2);
    results(&c, &["HumanEval/0"], 1);
    let out = output(distill().args(["eval", "--compare"]).arg(&a).arg(&b));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // B passes both problems, A neither: +100 points with the interval [1, 1].
    assert!(
        stdout.contains("+100.00 points, 95% CI [+100.00, +100.00]"),
        "{stdout}"
    );
    let (code, text) = eval(&["--compare", a.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("different problems"), "{text}");
    assert!(text.contains("HumanEval/1"), "{text}");
    // --compare with --model is a usage error.
    let (code, _) = eval(&[
        "--compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--model",
        "http://x/v1",
    ]);
    assert_eq!(code, Some(2));
}
