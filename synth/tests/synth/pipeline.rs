//! Acceptance 1: a full run against the scripted server; every output count and
//! content follows from the script in `harness.rs`.

use crate::harness::*;
use crate::server::ScriptServer;
use std::collections::BTreeMap;
use std::time::Duration;
use synth::{Teacher, run_synth};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_run_produces_exactly_what_the_script_implies() {
    let server = ScriptServer::start(script).await;
    let dir = tempfile::tempdir().unwrap();
    let teacher = teacher(&server);
    let problems = problems();
    let report = run_synth(
        dir.path(),
        &problems,
        teacher.clone(),
        checker(),
        &options(),
    )
    .await
    .unwrap();

    // Per problem (samples 2, 1 feedback turn, accept 1):
    //   add:    s0 t0 failed, t1 passed             -> 1 sample, 2 answers
    //   nocode: s0 t0 no_code, t1 passed            -> 1 sample, 2 answers
    //   syntax: s0 t0 syntax, t1 passed             -> 1 sample, 2 answers
    //   faults: s0 t0 passed after 4 faulty tries   -> 1 sample, 1 answer
    //   stdio:  s0 t0 passed                        -> 1 sample, 1 answer
    //   never:  s0 and s1: t0 failed, t1 failed     -> 2 samples, 4 answers
    //   broken: bad problem, teacher never asked
    assert_eq!(report.problems, 7);
    assert_eq!(report.finished, 6);
    assert_eq!(report.unfinished, 0);
    assert_eq!(report.bad_problems.len(), 1);
    assert_eq!(report.bad_problems[0].id, "t/broken");
    assert!(
        report.bad_problems[0].reason.contains("reference solution"),
        "{:?}",
        report.bad_problems
    );
    assert_eq!(report.accepted_problems, 5);
    assert_eq!(report.samples, 7);
    assert_eq!(report.attempts, 12);
    assert_eq!(report.first_try_pass_rate, 2.0 / 7.0);
    assert_eq!(report.pass_rate_after_turn, vec![2.0 / 7.0, 5.0 / 7.0]);
    let classes: BTreeMap<String, u64> = [("failed", 5), ("no_code", 1), ("syntax", 1)]
        .map(|(k, v)| (k.to_string(), v))
        .into();
    assert_eq!(report.failure_classes, classes);
    assert_eq!(report.sft_records, 5);
    assert_eq!(report.dpo_records, 3);
    // The server reports 10 prompt and 5 completion tokens per answer.
    assert_eq!((report.tokens_in, report.tokens_out), (120, 60));
    assert_eq!(report.teacher_calls, 12);
    assert_eq!(report.cache_hits, 0);

    // The server saw the 12 answered requests plus the 4 faulty tries; none for `broken`.
    let requests = server.requests();
    assert_eq!(requests.len(), 16);
    assert!(requests.iter().all(|r| r.tag != "broken"));
    let stats = teacher.stats();
    assert_eq!((stats.calls, stats.retries), (12, 4));
    assert!(
        requests
            .iter()
            .all(|r| r.auth.as_deref() == Some(concat!("Bearer ", env!("CARGO_PKG_NAME"))))
    );
    // Retry-After: 1 was honoured (the backoff alone would wait ~10 ms).
    let faults: Vec<_> = requests.iter().filter(|r| r.tag == "faults").collect();
    assert_eq!(faults.len(), 5);
    assert!(faults[1].at - faults[0].at >= Duration::from_millis(950));
    // The hang was cut by the 1 s timeout, well before the 4 s the server waited.
    assert!(faults[4].at - faults[3].at < Duration::from_millis(2500));
    // Samples carry their own seed; sampling parameters are sent.
    let never: Vec<u64> = requests
        .iter()
        .filter(|r| r.tag == "never")
        .map(|r| r.sample)
        .collect();
    assert_eq!(never.iter().filter(|&&s| s == 1).count(), 2);
    assert_eq!(requests[0].body["max_tokens"], 2048);

    // Feedback turns quote the classified failure.
    let feedback = |tag: &str| -> String {
        let r = requests
            .iter()
            .find(|r| r.tag == tag && r.turn == 1)
            .unwrap();
        let msgs = r.body["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 4);
        assert_eq!(msgs[3]["role"], "user");
        msgs[3]["content"].as_str().unwrap().to_string()
    };
    let add_fb = feedback("add");
    assert!(
        add_fb.contains("a test failed") && add_fb.contains("AssertionError"),
        "{add_fb}"
    );
    assert!(add_fb.contains("assert add(1, 2) == 3"), "{add_fb}");
    assert!(feedback("nocode").contains("no code block"));
    let syn_fb = feedback("syntax");
    assert!(
        syn_fb.contains("does not compile") && syn_fb.contains("SyntaxError"),
        "{syn_fb}"
    );
    let requests_add = requests
        .iter()
        .find(|r| r.tag == "add" && r.turn == 1)
        .unwrap();
    assert_eq!(requests_add.body["messages"][2]["content"], WRONG_ADD);

    // sft.jsonl: the clean dialogue ending in the passing answer, in problem order.
    let sft = read_lines(&dir.path().join("sft.jsonl"));
    let ids: Vec<&str> = sft
        .iter()
        .map(|r| r["meta"]["problem_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["t/add", "t/nocode", "t/syntax", "t/faults", "t/stdio"]
    );
    let finals: Vec<&str> = sft
        .iter()
        .map(|r| r["messages"][2]["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        finals,
        [RIGHT_ADD, RIGHT_ADD, RIGHT_ADD, RIGHT_ADD, RIGHT_SUM]
    );
    for r in &sft {
        assert_eq!(r["format"], "sft.v1");
        let roles: Vec<&str> = r["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
        assert_eq!(r["meta"]["teacher"]["model"], "scripted-model");
        assert_eq!(
            r["meta"]["prompt_template"],
            synth::prompt::TEMPLATE_VERSION
        );
    }
    assert_eq!(
        sft[0]["meta"]["attempts"],
        serde_json::json!([
            {"sample": 0, "turn": 0, "status": "failed"},
            {"sample": 0, "turn": 1, "status": "passed"}
        ])
    );
    // Every record passes datasets' own validation.
    datasets::jsonl::read_all::<datasets::records::SftRecord>(
        dir.path().join("sft.jsonl"),
        Default::default(),
    )
    .unwrap();
    datasets::jsonl::read_all::<datasets::records::DpoRecord>(
        dir.path().join("dpo.jsonl"),
        Default::default(),
    )
    .unwrap();

    // dpo.jsonl: passing vs failing answer of the same problem, clean prompt.
    let dpo = read_lines(&dir.path().join("dpo.jsonl"));
    let pairs: Vec<(&str, &str, &str)> = dpo
        .iter()
        .map(|r| {
            (
                r["meta"]["problem_id"].as_str().unwrap(),
                r["chosen"][0]["content"].as_str().unwrap(),
                r["rejected"][0]["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("t/add", RIGHT_ADD, WRONG_ADD),
            ("t/nocode", RIGHT_ADD, NO_CODE),
            ("t/syntax", RIGHT_ADD, SYNTAX_ADD),
        ]
    );
    for r in &dpo {
        assert_eq!(r["prompt"].as_array().unwrap().len(), 2);
        assert_eq!(r["prompt"][1]["role"], "user");
    }

    // The journal holds every answer; done.jsonl every problem, the bad one flagged.
    let attempts = read_lines(&dir.path().join("attempts.jsonl"));
    assert_eq!(attempts.len(), 12);
    let nocode = attempts
        .iter()
        .find(|a| a["problem_id"] == "t/nocode" && a["turn"] == 0)
        .unwrap();
    assert!(nocode["code"].is_null());
    assert_eq!(nocode["outcome"]["status"], "syntax");
    let done = read_lines(&dir.path().join("done.jsonl"));
    assert_eq!(done.len(), 7);
    assert!(
        done.iter()
            .any(|d| d["problem_id"] == "t/broken" && d["status"] == "bad_problem")
    );
    let stored: synth::Report =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(stored, report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_dialogue_and_executed_only_rejections() {
    let server = ScriptServer::start(script).await;
    let dir = tempfile::tempdir().unwrap();
    let problems: Vec<_> = problems()
        .into_iter()
        .filter(|p| p.id == "t/add" || p.id == "t/syntax")
        .collect();
    let options = synth::SynthOptions {
        sft_dialogue: synth::SftDialogue::Feedback,
        dpo_rejected: synth::DpoRejected::ExecutedOnly,
        ..options()
    };
    let report = run_synth(dir.path(), &problems, teacher(&server), checker(), &options)
        .await
        .unwrap();
    assert_eq!((report.sft_records, report.dpo_records), (2, 1));
    let sft = read_lines(&dir.path().join("sft.jsonl"));
    for r in &sft {
        let msgs = r["messages"].as_array().unwrap();
        let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user", "assistant"]);
        assert_eq!(msgs[4]["content"], RIGHT_ADD);
    }
    assert_eq!(sft[0]["messages"][2]["content"], WRONG_ADD);
    assert_eq!(sft[1]["messages"][2]["content"], SYNTAX_ADD);
    let dpo = read_lines(&dir.path().join("dpo.jsonl"));
    assert_eq!(dpo[0]["rejected"][0]["content"], WRONG_ADD);
}
