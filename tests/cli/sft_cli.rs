//! `distill sft` and `distill plot` end to end on SmolLM2-135M (GGUF, from the cache):
//! LoRA trains for a few steps with the loss falling, metrics carry TRL's names, the
//! adapter has PEFT's layout, runs resume, and bad input exits 2 with one `error:` line.

use crate::harness::{distill, installed_store, output, stderr, write};
use std::path::{Path, PathBuf};

fn smollm2() -> PathBuf {
    installed_store()
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the cache (run `distill setup` or set DISTILL_CACHE)")
}

/// Eight short dialogues with one answer pattern (distinct problems, so the split
/// decides by problem).
fn tiny_data() -> String {
    let qa = [
        ("What is 2+3?", "5"),
        ("Capital of France?", "Paris"),
        ("Reverse 'abc'.", "cba"),
        ("Square of 4?", "16"),
        ("Say hi.", "hi"),
        ("Largest of 3, 9, 4?", "9"),
        ("Lowercase 'ABC'.", "abc"),
        ("Is 7 prime?", "yes"),
    ];
    qa.iter()
        .map(|(q, a)| {
            serde_json::json!({"messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": q},
                {"role": "assistant", "content": format!("The answer is {a}.")},
            ]})
            .to_string()
                + "\n"
        })
        .collect()
}

fn metrics(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The tensor names and shapes in a safetensors header (8-byte length + JSON).
fn safetensors_header(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut h: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    h.remove("__metadata__");
    h
}

fn the_error_line(out: &std::process::Output) -> String {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{err}");
    lines[0].to_string()
}

#[test]
fn lora_trains_resumes_writes_a_peft_adapter_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "sft.jsonl", tiny_data());
    // the config file sets most settings; flags override `epochs` and add the rest
    let config = write(
        dir.path(),
        "sft.toml",
        "max-len = 128\nbatch-size = 3\nepochs = 1\nlora-rank = 8\nlora-alpha = 16.0\nlora-dropout = 0.0\nlr = 5e-4\neval-every = 2\neval-fraction = 0.2\nsave-every = 2\n",
    );
    let out_dir = dir.path().join("run");
    let run = |extra: &[&str]| {
        output(
            distill()
                .arg("sft")
                .arg("--config")
                .arg(&config)
                .arg("--model")
                .arg(smollm2())
                .arg("--data")
                .arg(&data)
                .arg("--out")
                .arg(&out_dir)
                .args(["--epochs", "3"])
                .args(extra),
        )
    };

    // 8 records, 2 held out by the seeded split, 6 trained at 3 per step: 2 steps per
    // epoch, 6 in all. Stop after 4, then resume.
    let first = run(&["--max-steps", "4"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(stdout.contains("4 new steps, 4/6 done"), "{stdout}");
    assert!(!out_dir.join("adapter_model.safetensors").exists());

    let second = run(&[]);
    assert!(second.status.success(), "{}", stderr(&second));
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(
        stdout.contains("2 new steps, 6/6 done (resumed at 4)"),
        "{stdout}"
    );
    // the starting model's held-out loss, kept from the first invocation, then the last
    let start: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("eval_start.json")).unwrap())
            .unwrap();
    let start = start["eval_loss"].as_f64().unwrap();
    assert!(
        stdout.contains(&format!("eval_loss {start:.4} → ")),
        "{stdout}"
    );

    let m = metrics(&out_dir);
    let steps: Vec<u64> = m.iter().map(|r| r["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [1, 2, 3, 4, 5, 6], "each step logged once");
    for key in [
        "loss",
        "grad_norm",
        "learning_rate",
        "num_tokens",
        "mean_token_accuracy",
        "epoch",
    ] {
        assert!(m.iter().all(|r| r[key].is_number()), "{key} on every step");
    }
    let evals: Vec<f64> = m.iter().filter_map(|r| r["eval_loss"].as_f64()).collect();
    assert_eq!(evals.len(), 3, "eval at steps 2, 4, 6");
    // the same held-out examples score better after training
    assert!(evals[2] < evals[0], "eval loss should fall: {evals:?}");
    assert!(
        evals[2] < start,
        "below the starting model's {start}: {evals:?}"
    );
    // the same six training examples: the last epoch's loss is below the first's
    let loss = |i: usize| m[i]["loss"].as_f64().unwrap();
    assert!(
        loss(4) + loss(5) < loss(0) + loss(1),
        "train loss should fall: {m:?}"
    );
    assert!((m[5]["epoch"].as_f64().unwrap() - 3.0).abs() < 1e-9);
    // cosine decay from 5e-4 with no warmup: step 1 at the peak, step 4 at
    // 5e-4 * (1 + cos(pi * 3/6)) / 2 = 2.5e-4
    assert!((m[0]["learning_rate"].as_f64().unwrap() - 5e-4).abs() < 1e-12);
    assert!((m[3]["learning_rate"].as_f64().unwrap() - 2.5e-4).abs() < 1e-12);

    // PEFT layout: config and keys `base_model.model.model.layers.{i}.{module}.lora_{A,B}.weight`
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 8);
    assert_eq!(cfg["lora_alpha"].as_f64(), Some(16.0));
    let header = safetensors_header(&out_dir.join("adapter_model.safetensors"));
    // SmolLM2-135M: 30 layers, hidden 576, 9 heads of 64 with 3 KV heads, MLP 1536;
    // all seven projections adapted, A and B each
    assert_eq!(header.len(), 30 * 7 * 2);
    let shape = |k: &str| header[k]["shape"].clone();
    assert_eq!(
        shape("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"),
        serde_json::json!([8, 576])
    );
    assert_eq!(
        shape("base_model.model.model.layers.29.self_attn.k_proj.lora_B.weight"),
        serde_json::json!([192, 8])
    );
    assert_eq!(
        shape("base_model.model.model.layers.5.mlp.down_proj.lora_A.weight"),
        serde_json::json!([8, 1536])
    );

    // a finished run resumes to no new steps
    let third = run(&[]);
    assert!(third.status.success(), "{}", stderr(&third));
    let stdout = String::from_utf8_lossy(&third.stdout).into_owned();
    assert!(stdout.contains("0 new steps, 6/6 done"), "{stdout}");
    assert_eq!(metrics(&out_dir).len(), 6);

    // other settings on the same output dir: refused before training
    let other = run(&["--lora-rank", "4"]);
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    assert!(the_error_line(&other).contains("cannot resume"));

    // other data (one answer changed) on the same output dir: refused as well
    let changed = write(
        dir.path(),
        "changed.jsonl",
        tiny_data().replace("The answer is 5.", "The answer is 6."),
    );
    let other = output(
        distill()
            .arg("sft")
            .arg("--config")
            .arg(&config)
            .arg("--model")
            .arg(smollm2())
            .arg("--data")
            .arg(&changed)
            .arg("--out")
            .arg(&out_dir)
            .args(["--epochs", "3"]),
    );
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    assert!(the_error_line(&other).contains("trained on another data"));

    let plot = output(distill().arg("plot").arg(&out_dir));
    assert!(plot.status.success(), "{}", stderr(&plot));
    let png = std::fs::read(out_dir.join("metrics.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[test]
fn bad_inputs_exit_2_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.jsonl", tiny_data());
    let empty_reply = write(
        dir.path(),
        "empty.jsonl",
        tiny_data().lines().next().unwrap().to_string()
            + "\n"
            + r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"  "}]}"#
            + "\n",
    );
    let missing = dir.path().join("missing.jsonl");
    let sft = |data: &Path, extra: &[&str]| {
        output(
            distill()
                .arg("sft")
                .arg("--model")
                .arg(smollm2())
                .arg("--data")
                .arg(data)
                .arg("--out")
                .arg(dir.path().join("out"))
                .args(["--max-len", "128"])
                .args(extra),
        )
    };

    let out = sft(&missing, &[]);
    assert_eq!(out.status.code(), Some(2));
    let line = the_error_line(&out);
    assert!(line.contains("missing.jsonl"), "{line}");

    let out = sft(&empty_reply, &[]);
    assert_eq!(out.status.code(), Some(2));
    let line = the_error_line(&out);
    assert!(
        line.contains("empty.jsonl:2: messages[1].content:"),
        "{line}"
    );

    let out = sft(&good, &["--lr", "nan"]);
    assert_eq!(out.status.code(), Some(2));
    let line = the_error_line(&out);
    assert!(line.contains("learning rate NaN"), "{line}");

    // nothing was trained or written by the failed runs
    assert!(!dir.path().join("out").join("metrics.jsonl").exists());
}
