//! `synth::eval` end to end on real HumanEval problems (from the setup cache) with the
//! scripted OpenAI-compatible server: exact pass@k for scripted right and wrong
//! answers, an interrupted eval resumed without re-asking finished problems, the
//! settings fingerprint, bad input (unknown bench, a path that is not a model), and
//! `compare`.

use crate::harness::{checker, read_lines, teacher};
use crate::server::{Reply, ScriptServer, Seen};
use datasets::records::Problem;
use sandbox::artifacts::{ArtifactStore, FetchMode};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use synth::eval::{
    Bench, CompareOptions, EvalError, EvalOptions, EvalSummary, ModelSpec, compare, run_eval,
};
use synth::{OpenAiConfig, OpenAiTeacher, SamplingParams};

/// The first six HumanEval problems, as `distill setup` installed them.
fn humaneval() -> Vec<Problem> {
    Bench::HumanEval
        .load(&ArtifactStore::from_env(FetchMode::Offline))
        .expect("HumanEval is installed by `distill setup`")
}

fn canonical(p: &Problem) -> String {
    p.meta.as_ref().unwrap()["canonical_solution"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The scripted answers, by entry point and sample (3 samples per problem):
/// - `has_close_elements` (HumanEval/0): prompt + canonical body, a complete program,
///   then a wrong self-test (`assert has_close_elements([1.0], 0.5)`) that sanitizing
///   drops;
/// - `separate_paren_groups` (1): the canonical body only (the prompt is prepended);
/// - `truncate_number` (2): a wrong function (`return number`): failed;
/// - `below_zero` (3): sample 0 a right function without the `List` import (the
///   prepended prompt supplies it), samples 1-2 `return None`: failed;
/// - `mean_absolute_deviation` (4): prose without code: no_code;
/// - `intersperse` (5): a missing colon: syntax.
fn answers(problems: &[Problem]) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    let p: Vec<(String, String, String)> = problems
        .iter()
        .map(|p| {
            (
                p.entry_point.clone().unwrap(),
                p.prompt.clone(),
                canonical(p),
            )
        })
        .collect();
    move |seen: &Seen| {
        let user = seen.body["messages"][1]["content"].as_str().unwrap_or("");
        let (ep, prompt, body) = p
            .iter()
            .find(|(ep, _, _)| user.contains(&format!("def {ep}(")))
            .expect("a known problem");
        let text = match ep.as_str() {
            // With a wrong self-test of the model's own, dropped by sanitizing.
            "has_close_elements" => format!(
                "Here it is:\n```python\n{prompt}{body}\nassert has_close_elements([1.0], 0.5)\n```\n"
            ),
            "separate_paren_groups" => format!("```python\n{body}```"),
            "truncate_number" => {
                "```python\ndef truncate_number(number: float) -> float:\n    return number\n```"
                    .into()
            }
            "below_zero" if seen.sample == 0 => {
                format!("```python\ndef below_zero(operations: List[int]) -> bool:\n{body}```")
            }
            "below_zero" => "```python\ndef below_zero(operations):\n    return None\n```".into(),
            "mean_absolute_deviation" => "Compute the mean, then the mean distance.".into(),
            "intersperse" => {
                "```python\ndef intersperse(numbers, delimeter)\n    return []\n```".into()
            }
            other => panic!("unexpected problem {other}"),
        };
        Reply::Answer(text)
    }
}

/// 3 samples, pass@1 and pass@2, the first six problems, one problem at a time
/// unless `concurrency` says otherwise.
fn options(concurrency: usize) -> EvalOptions {
    EvalOptions {
        samples: 3,
        ks: vec![1, 2],
        params: SamplingParams {
            temperature: 0.8,
            ..EvalOptions::default().params
        },
        limit: Some(6),
        concurrency,
        ..EvalOptions::default()
    }
}

/// The expected summary numbers, derived by hand from the script:
/// per-problem (c of n = 3): 3, 3, 0, 1, 0, 0.
/// pass@1 = c/n: 1, 1, 0, 1/3, 0, 0 → mean (7/3)/6 = 7/18.
/// pass@2 = 1 - C(3-c, 2)/C(3, 2): 1, 1, 0, 1 - 1/3 = 2/3, 0, 0 → mean (8/3)/6 = 4/9.
/// Outcomes of the 18 samples: passed 3+3+1 = 7, failed 3+2 = 5, no_code 3, syntax 3.
fn assert_expected(s: &EvalSummary) {
    assert_eq!((s.problems, s.finished, s.unfinished), (6, 6, 0));
    assert!((s.pass_at_k[&1] - 7.0 / 18.0).abs() < 1e-12, "{s:?}");
    assert!((s.pass_at_k[&2] - 4.0 / 9.0).abs() < 1e-12, "{s:?}");
    let outcomes: BTreeMap<&str, u64> = s.outcomes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        outcomes,
        BTreeMap::from([("failed", 5), ("no_code", 3), ("passed", 7), ("syntax", 3)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_answers_give_the_hand_computed_pass_at_k() {
    let problems = humaneval();
    assert_eq!(problems.len(), 164);
    let server = ScriptServer::start(answers(&problems[..6])).await;
    let dir = tempfile::tempdir().unwrap();
    let finished = std::sync::Mutex::new(Vec::new());
    let on_result = |r: &synth::eval::ProblemResult| finished.lock().unwrap().push(r.c);
    let summary = run_eval(
        dir.path(),
        &problems,
        teacher(&server),
        checker(),
        &options(4),
        Some(&on_result),
    )
    .await
    .unwrap();
    assert_expected(&summary);
    assert_eq!(summary.model, "scripted-model");
    assert_eq!(summary.teacher_calls, 18);
    assert_eq!(server.requests().len(), 18);
    assert_eq!(finished.lock().unwrap().len(), 6);
    // The server reports 5 completion tokens per answer.
    assert_eq!(summary.completion_tokens, 90);
    assert!(summary.tokens_per_s.is_some());

    // Every request: the HumanEval prompt quoted, seed = sample index.
    let seeds: Vec<u64> = server.requests().iter().map(|s| s.sample).collect();
    assert_eq!(seeds.iter().filter(|&&s| s == 2).count(), 6);

    // results.jsonl: one line per problem with per-sample status and code.
    let lines = read_lines(&dir.path().join("results.jsonl"));
    assert_eq!(lines.len(), 6);
    let by_id: BTreeMap<String, &serde_json::Value> = lines
        .iter()
        .map(|l| (l["problem_id"].as_str().unwrap().to_string(), l))
        .collect();
    let p3 = by_id["HumanEval/3"];
    assert_eq!((p3["n"].as_u64(), p3["c"].as_u64()), (Some(3), Some(1)));
    assert!((p3["pass_at_k"]["2"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    let statuses: Vec<&str> = p3["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passed", "failed", "failed"]);
    assert_eq!(
        by_id["HumanEval/4"]["samples"][0]["code"],
        serde_json::Value::Null
    );
    assert_eq!(by_id["HumanEval/5"]["samples"][1]["status"], "syntax");
    let json: EvalSummary =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    for (k, v) in &summary.pass_at_k {
        assert!((json.pass_at_k[k] - v).abs() < 1e-12);
    }
    let table = std::fs::read_to_string(dir.path().join("summary.txt")).unwrap();
    assert!(table.contains("pass@1       38.89%"), "{table}");
    assert!(table.contains("pass@2       44.44%"), "{table}");

    // Re-running the same command: nothing to do, no teacher call, same numbers.
    let again = run_eval(
        dir.path(),
        &problems,
        teacher(&server),
        checker(),
        &options(4),
        None,
    )
    .await
    .unwrap();
    assert_expected(&again);
    assert_eq!((again.teacher_calls, again.finished_now), (0, 0));
    assert_eq!(server.requests().len(), 18);

    // Another model (or other settings) in the same directory is a clear error ...
    let mut config = OpenAiConfig::new(server.url(), "another-model");
    config.api_key_env = "CARGO_PKG_NAME".into();
    let other = Arc::new(OpenAiTeacher::new(config).unwrap());
    let err = run_eval(
        dir.path(),
        &problems,
        other.clone(),
        checker(),
        &options(4),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EvalError::ConfigMismatch { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    let more = EvalOptions {
        limit: Some(7),
        ..options(4)
    };
    let err = run_eval(
        dir.path(),
        &problems,
        teacher(&server),
        checker(),
        &more,
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EvalError::ConfigMismatch { .. }), "{err}");
    // Without sanitizing, the model's wrong self-test fails HumanEval/0.
    let raw_dir = tempfile::tempdir().unwrap();
    let raw = EvalOptions {
        sanitize: false,
        limit: Some(1),
        ..options(4)
    };
    let s = run_eval(
        raw_dir.path(),
        &problems,
        teacher(&server),
        checker(),
        &raw,
        None,
    )
    .await
    .unwrap();
    assert_eq!((s.pass_at_k[&1], s.outcomes["failed"]), (0.0, 3));
    // ... unless forced.
    let forced = EvalOptions {
        force: true,
        ..options(4)
    };
    run_eval(dir.path(), &problems, other, checker(), &forced, None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_eval_resumes_without_re_asking_finished_problems() {
    let problems = humaneval();
    let script = Arc::new(answers(&problems[..6]));
    let slow_script = Arc::clone(&script);
    let slow = ScriptServer::start(move |seen| match slow_script(seen) {
        Reply::Answer(a) => Reply::AnswerAfter(Duration::from_millis(250), a),
        other => other,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    // One request at a time, 250 ms each (about a second per problem): drop the
    // eval future once two problems are in results.jsonl, while the third runs.
    let results = dir.path().join("results.jsonl");
    let count = || {
        std::fs::read_to_string(&results)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let one_at_a_time = options(1);
    let mut eval = Box::pin(run_eval(
        dir.path(),
        &problems,
        teacher(&slow),
        checker(),
        &one_at_a_time,
        None,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::select! {
            r = &mut eval => panic!("the eval finished before the interruption: {r:?}"),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if count() >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress in 60 s"
        );
    }
    // Dropping the future drops its task set, which aborts the samples in flight.
    drop(eval);
    let done: Vec<String> = read_lines(&results)
        .iter()
        .map(|l| l["problem_id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !done.is_empty() && done.len() < 6,
        "interrupted after {} problems",
        done.len()
    );

    let fast_script = Arc::clone(&script);
    let fast = ScriptServer::start(move |seen| fast_script(seen)).await;
    let resumed = run_eval(
        dir.path(),
        &problems,
        teacher(&fast),
        checker(),
        &options(1),
        None,
    )
    .await
    .unwrap();
    assert_expected(&resumed);
    // Only the unfinished problems were asked again, each for all 3 samples.
    assert_eq!(fast.requests().len(), (6 - done.len()) * 3);
    for seen in fast.requests() {
        let user = seen.body["messages"][1]["content"].as_str().unwrap();
        for id in &done {
            let p = problems.iter().find(|p| &p.id == id).unwrap();
            let ep = p.entry_point.as_deref().unwrap();
            assert!(!user.contains(&format!("def {ep}(")), "{id} asked again");
        }
    }
    assert_eq!(read_lines(&dir.path().join("results.jsonl")).len(), 6);
}

#[test]
fn unknown_bench_names_list_the_known_ones() {
    let err = Bench::parse("humaneval-plus").unwrap_err();
    assert!(matches!(err, EvalError::UnknownBench { .. }));
    let text = err.to_string();
    assert!(text.contains("`humaneval-plus`") && text.contains("known benchmarks: humaneval"));
}

#[test]
fn a_path_that_is_not_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("weights.bin");
    std::fs::write(&text, b"not a model").unwrap();
    let err = ModelSpec::parse(text.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, EvalError::NotAModel { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("weights.bin") && msg.contains("not GGUF"),
        "{msg}"
    );
    let half = dir.path().join("half");
    std::fs::create_dir(&half).unwrap();
    std::fs::write(half.join("config.json"), b"{}").unwrap();
    let msg = ModelSpec::parse(half.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no *.safetensors"), "{msg}");
    let missing = ModelSpec::parse(dir.path().join("nope").to_str().unwrap()).unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
    // The real student GGUF from the cache is a model.
    let gguf = ArtifactStore::from_env(FetchMode::Offline)
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("installed by `distill setup`");
    assert_eq!(
        ModelSpec::parse(gguf.to_str().unwrap()).unwrap(),
        ModelSpec::Gguf(gguf)
    );
}

/// Writes an eval directory whose problems `ids` passed `c` of `n` samples each.
fn synthetic_run(dir: &Path, rows: &[(&str, u32, u32)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    for (id, n, c) in rows {
        let samples: Vec<serde_json::Value> = (0..*n)
            .map(|s| {
                serde_json::json!({
                    "sample": s, "status": if s < *c { "passed" } else { "failed" },
                    "code": "pass\n", "completion": "```python\npass\n```",
                    "detail": "", "duration_ms": 1, "generation_ms": 1,
                })
            })
            .collect();
        let line = serde_json::json!({
            "format": "eval-result.v1", "problem_id": id, "n": n, "c": c,
            "pass_at_k": {"1": f64::from(*c) / f64::from(*n)}, "samples": samples,
        });
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(dir.join("results.jsonl"), text).unwrap();
}

#[test]
fn compare_gives_the_difference_with_a_bootstrap_interval() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, c, d) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
        root.path().join("d"),
    );
    let ids: Vec<String> = (0..40).map(|i| format!("HumanEval/{i}")).collect();
    let rows = |f: &dyn Fn(usize) -> u32| -> Vec<(&str, u32, u32)> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), 4, f(i)))
            .collect()
    };
    synthetic_run(&a, &rows(&|i| (i % 5) as u32));
    synthetic_run(&b, &rows(&|i| (i % 5) as u32));
    synthetic_run(&c, &rows(&|_| 0));
    synthetic_run(&d, &rows(&|_| 4));
    let o = CompareOptions::default();

    // Identical runs: difference 0, interval [0, 0].
    let same = compare(&a, &b, &o).unwrap();
    assert_eq!((same.diff, same.ci_low, same.ci_high), (0.0, 0.0, 0.0));
    assert_eq!((same.problems, same.ties), (40, 40));
    // i % 5 passes of 4 (capped by n: 0, 1, 2, 3, 4 → pass@1 0, .25, .5, .75, 1):
    // mean 0.5.
    assert!((same.pass1_a - 0.5).abs() < 1e-12);

    // Everything vs nothing: B − A = 1 exactly, interval [1, 1].
    let all = compare(&c, &d, &o).unwrap();
    assert_eq!((all.diff, all.ci_low, all.ci_high), (1.0, 1.0, 1.0));
    assert_eq!(all.b_better, 40);
    let back = compare(&d, &c, &o).unwrap();
    assert_eq!(back.diff, -1.0);

    // Nothing vs the mixed run: diff 0.5; per-problem differences 0, .25, .5, .75, 1
    // in equal shares have population sd sqrt(0.125) = 0.3536, so the standard error
    // over 40 problems is 0.0559 and the normal-approximation 95% interval is
    // 0.5 ± 1.96 · 0.0559 = [0.390, 0.610].
    let mixed = compare(&c, &a, &o).unwrap();
    assert!((mixed.diff - 0.5).abs() < 1e-12);
    assert!((mixed.ci_low - 0.390).abs() < 0.02, "{mixed:?}");
    assert!((mixed.ci_high - 0.610).abs() < 0.02, "{mixed:?}");
    assert!(mixed.table().contains("+50.00 points"), "{}", mixed.table());

    // Different problem sets are an error naming both.
    let e = root.path().join("e");
    synthetic_run(&e, &rows(&|_| 1)[..39]);
    let err = compare(&a, &e, &o).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::ProblemSetsDiffer {
                only_a: 1,
                only_b: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("HumanEval/39"), "{err}");
    // A directory that is no eval run.
    let err = compare(&a, root.path(), &o).unwrap_err();
    assert!(err.to_string().contains("results.jsonl"), "{err}");
}
