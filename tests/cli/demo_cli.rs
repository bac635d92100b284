//! `distill demo` end to end, reduced (a few problems, one SFT epoch, a few DPO steps,
//! a few HumanEval problems): every stage runs with the real in-process teacher and
//! student from the cache (the SFT student's own failures become on-policy DPO
//! pairs), the report and its charts are written, a second run resumes with every
//! stage skipped, and other settings in the same directory are refused.
//! `--ablation` adds the unverified-data arm.

use crate::harness::{distill, output, stderr};

const REDUCED: [&str; 12] = [
    "--problems",
    "3",
    "--eval-problems",
    "3",
    "--sft-epochs",
    "1",
    "--dpo-steps",
    "2",
    "--teacher-max-tokens",
    "256",
    "--eval-max-tokens",
    "48",
];

#[test]
fn reduced_demo_runs_every_stage_writes_the_report_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let run = || {
        let mut cmd = distill();
        cmd.args(["demo", "--quick", "--ablation", "--out"])
            .arg(&out)
            .args(REDUCED);
        output(&mut cmd)
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first.status.success(), "{stdout}\n{}", stderr(&first));

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("demo.json")).unwrap()).unwrap();
    let done = state["done"].as_object().unwrap();
    for stage in [
        "synth",
        "sft",
        "student-synth",
        "dpo",
        "eval-base",
        "ablation-data",
        "ablation-sft",
    ] {
        assert!(done.contains_key(stage), "stage {stage} missing: {state}");
    }
    // The synth stage's numbers are the run directory's report.json.
    let synth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("synth/report.json")).unwrap())
            .unwrap();
    assert_eq!(synth["problems"], 3);
    assert_eq!(done["synth"]["sft_records"], synth["sft_records"]);
    // When the SFT student answered, its failures met verified teacher answers, and
    // DPO's data is the teacher's pairs followed by those on-policy pairs.
    if let Some(onpolicy) = done["student-synth"]["onpolicy_pairs"].as_u64() {
        let lines = |p: &str| {
            std::fs::read_to_string(out.join(p))
                .map(|t| t.lines().count() as u64)
                .unwrap_or(0)
        };
        assert_eq!(lines("student/onpolicy.jsonl"), onpolicy);
        assert!(out.join("student/attempts.jsonl").is_file());
        if done["dpo"].get("skipped").is_none() {
            assert_eq!(
                lines("dpo/pairs.jsonl"),
                lines("synth/dpo.jsonl") + onpolicy
            );
        }
    }
    // Every evaluated student saw the same 3 HumanEval problems.
    for (stage, v) in done.iter().filter(|(k, _)| k.starts_with("eval-")) {
        assert_eq!(v["problems"], 3, "{stage}: {v}");
        assert_eq!(v["finished"], 3, "{stage}: {v}");
    }

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "teacher first-try pass rate",
        "SFT records",
        "DPO pairs",
        "| base |",
        "feedback.png",
    ] {
        assert!(
            report.contains(needle),
            "report lacks {needle:?}:\n{report}"
        );
    }
    for png in ["feedback.png", "pass_at_1.png"] {
        let bytes = std::fs::read(out.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }

    // A second run finds every stage done and only rewrites the report.
    let second = run();
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(second.status.success(), "{stdout}\n{}", stderr(&second));
    assert!(!stdout.contains("] running"), "{stdout}");
    assert!(stdout.contains("[synth] already done"), "{stdout}");

    // Other settings in the same directory are refused with a clear message.
    let mut cmd = distill();
    cmd.args(["demo", "--out"]).arg(&out);
    let other = output(&mut cmd);
    assert_eq!(other.status.code(), Some(2));
    assert!(
        stderr(&other).contains("other settings"),
        "{}",
        stderr(&other)
    );
}
