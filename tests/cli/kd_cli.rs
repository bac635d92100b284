//! `distill kd` end to end on SmolLM2-135M (GGUF, from the cache) teaching a 2-layer
//! student cut from it: `kd init-student`, `kd cache`, training from the cache and
//! from the model, metrics names, and bad input as one `error:` line.

use crate::harness::{distill, installed_store, output, stderr, write};
use std::path::{Path, PathBuf};

fn smollm2() -> PathBuf {
    installed_store()
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the cache (run `distill setup` or set DISTILL_CACHE)")
}

fn data(dir: &Path) -> PathBuf {
    let qa = [
        ("Add 2 and 3 in Python.", "print(2 + 3)"),
        ("Reverse a string s.", "s[::-1]"),
        ("Square of x?", "x * x"),
        ("Length of a list xs?", "len(xs)"),
        ("Max of a, b?", "max(a, b)"),
        ("Lowercase s.", "s.lower()"),
    ];
    let text: String = qa
        .iter()
        .map(|(q, a)| {
            serde_json::json!({"messages": [
                {"role": "user", "content": q},
                {"role": "assistant", "content": format!("```python\n{a}\n```")},
            ]})
            .to_string()
                + "\n"
        })
        .collect();
    write(dir, "data.jsonl", text)
}

fn error_lines(out: &std::process::Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn init_student_then_cache_then_train_from_cache_and_from_model() {
    let dir = tempfile::tempdir().unwrap();
    let student = dir.path().join("student");
    let out = output(
        distill()
            .args(["kd", "init-student", "--layers", "2"])
            .arg("--from")
            .arg(smollm2())
            .arg("--out")
            .arg(&student),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("[0, 29]"));
    let data = data(dir.path());
    let common = |cmd: &mut std::process::Command| {
        cmd.arg("--student")
            .arg(&student)
            .arg("--data")
            .arg(&data)
            .args([
                "--max-len",
                "64",
                "--batch-size",
                "2",
                "--eval-fraction",
                "0.3",
            ]);
    };
    let cache = dir.path().join("cache");
    let mut c = distill();
    c.args(["kd", "cache", "--top-k", "8"])
        .arg("--teacher")
        .arg(smollm2())
        .arg("--out")
        .arg(&cache);
    common(&mut c);
    let out = output(&mut c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(cache.join("topk.safetensors").exists() && cache.join("topk.json").exists());

    for (name, teacher_flag, teacher) in [
        ("from-cache", "--teacher-cache", cache.clone()),
        ("from-model", "--teacher", smollm2()),
    ] {
        let run = dir.path().join(name);
        let mut k = distill();
        k.args([
            "kd",
            "--loss",
            "forward_kl",
            "--ce-weight",
            "0.2",
            "--max-steps",
            "2",
            "--eval-every",
            "2",
        ])
        .arg(teacher_flag)
        .arg(&teacher)
        .arg("--out")
        .arg(&run);
        common(&mut k);
        let out = output(&mut k);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        for key in [
            "loss",
            "kd_loss",
            "ce_loss",
            "eval_kl",
            "eval_kd_loss",
            "grad_norm",
        ] {
            assert!(last[key].is_number(), "{name}: no {key} in {last}");
        }
    }
}

#[test]
fn bad_kd_input_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let qwen = installed_store()
        .file(&sandbox::artifacts::QWEN25_CODER_05B_GGUF)
        .expect("Qwen GGUF in the cache (run `distill setup`)");
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (
            vec!["--teacher".into(), qwen.into_os_string()],
            "differs from the student's at token id 0",
        ),
        (
            vec![
                "--teacher".into(),
                smollm2().into_os_string(),
                "--loss".into(),
                "kl".into(),
            ],
            "expected forward_kl, reverse_kl or jsd",
        ),
        (
            vec![
                "--teacher".into(),
                smollm2().into_os_string(),
                "--beta".into(),
                "1.5".into(),
            ],
            "beta must be in [0, 1]",
        ),
        (
            vec![
                "--teacher".into(),
                dir.path().join("nope.gguf").into_os_string(),
            ],
            "no such teacher model",
        ),
        (
            vec![
                "--teacher-cache".into(),
                dir.path().join("no-cache").into_os_string(),
            ],
            "topk.json",
        ),
    ];
    for (args, expected) in cases {
        let out = output(
            distill()
                .arg("kd")
                .args(&args)
                .arg("--student")
                .arg(smollm2())
                .arg("--data")
                .arg(&data)
                .arg("--out")
                .arg(dir.path().join("run")),
        );
        assert!(!out.status.success(), "{args:?} succeeded");
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}: {}", stderr(&out));
        assert!(lines[0].contains(expected), "{args:?}: {}", lines[0]);
    }
    let out = output(
        distill()
            .args(["kd", "init-student", "--layers", "30"])
            .arg("--from")
            .arg(smollm2())
            .arg("--out")
            .arg(dir.path().join("s")),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("between 1 and 29"),
        "{}",
        stderr(&out)
    );
}
