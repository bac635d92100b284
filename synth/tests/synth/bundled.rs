//! The bundled problem set (`datasets::bundled`), checked the way `distill synth`
//! checks problems: synth's own `Checker` runs every reference solution (its
//! preflight) and two stubs per problem in the sandbox, all problems at once; the set
//! is well-formed; it shares no 13-gram with HumanEval; and the dedup step finds no
//! near-duplicates inside it.

use crate::harness::checker;
use datasets::bench::load_humaneval;
use datasets::bundled::{self, BUNDLED_PROBLEMS_NAME};
use datasets::decontam::Decontaminator;
use datasets::dedup::{Decision, DedupConfig, dedup};
use datasets::records::{Problem, TestType};
use sandbox::artifacts::{ArtifactStore, FetchMode, HUMANEVAL};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use synth::{Checker, VerdictClass};
use tokio::task::JoinSet;

fn all_problems() -> Vec<Problem> {
    bundled::problems().expect("the bundled set parses")
}

fn reference(p: &Problem) -> &str {
    p.meta
        .as_ref()
        .and_then(|m| m.get("reference"))
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("{}: no meta.reference", p.id))
}

/// The reference's skeleton: every `def`/`class` header line (and decorator) kept
/// with its indentation, each function body replaced by `body` and each class body by
/// `pass` before its methods. The entry point keeps its exact signature.
fn stub(reference: &str, body: &str) -> String {
    let mut out = String::new();
    for line in reference.lines() {
        let code = line.trim_start();
        let indent = &line[..line.len() - code.len()];
        let header = code.trim_end().ends_with(':');
        if code.starts_with('@') {
            out.push_str(line);
            out.push('\n');
        } else if header && (code.starts_with("def ") || code.starts_with("class ")) {
            let inner = if code.starts_with("def ") {
                body
            } else {
                "pass"
            };
            out.push_str(&format!("{line}\n{indent}    {inner}\n"));
        }
    }
    out
}

/// Every way one problem's checks went wrong (empty when all is as expected).
async fn audit(checker: Arc<Checker>, p: Problem) -> Vec<String> {
    let mut failures = Vec::new();
    match checker.preflight(&p).await {
        Ok(None) => {}
        Ok(Some(reason)) => failures.push(format!("{}: {reason}", p.id)),
        Err(e) => failures.push(format!("{}: sandbox error on the reference: {e}", p.id)),
    }
    let stubs: Vec<(String, &str)> = match p.test_type {
        TestType::Assert => {
            let entry = p.entry_point.clone().unwrap_or_default();
            ["raise NotImplementedError", "return None"]
                .into_iter()
                .map(|body| (stub(reference(&p), body), body))
                .inspect(|(code, body)| {
                    if !code.contains(&format!("def {entry}("))
                        && !code.contains(&format!("class {entry}"))
                    {
                        failures.push(format!("{}: the `{body}` stub lacks `{entry}`", p.id));
                    }
                })
                .collect()
        }
        TestType::Stdio => vec![("pass\n".to_string(), "print nothing")],
    };
    for (code, what) in stubs {
        let verdict = match checker.check(&p, &code).await {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{}: sandbox error on the `{what}` stub: {e}", p.id));
                continue;
            }
        };
        let expected = match what {
            // The stub compiles and runs; the tests reach the entry point and it raises.
            "raise NotImplementedError" => {
                verdict.class == VerdictClass::Error
                    && verdict.detail.contains("NotImplementedError")
            }
            "return None" => matches!(verdict.class, VerdictClass::Failed | VerdictClass::Error),
            _ => verdict.class == VerdictClass::Failed,
        };
        if !expected {
            failures.push(format!(
                "{}: the `{what}` stub got {} ({})",
                p.id,
                verdict.class.as_str(),
                verdict.detail
            ));
        }
    }
    failures
}

#[test]
fn references_pass_and_stubs_fail_in_the_sandbox() {
    let problems = all_problems();
    let checker = checker();
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let failures: Vec<String> = runtime.block_on(async {
        let mut tasks = JoinSet::new();
        for p in problems.iter().cloned() {
            tasks.spawn(audit(Arc::clone(&checker), p));
        }
        let mut failures = Vec::new();
        while let Some(done) = tasks.join_next().await {
            failures.extend(done.expect("an audit task panicked"));
        }
        failures
    });
    println!(
        "bundled: {} problems, references + stubs checked in {:.1} s",
        problems.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn stub_keeps_signatures_and_drops_bodies() {
    let reference = "import math\n\nclass Box:\n    def __init__(self, w):\n        self.w = w\n\n    @property\n    def area(self):\n        return self.w ** 2\n\ndef f(a, b=2):\n    def g(x):\n        return x\n    return g(a) + b\n";
    assert_eq!(
        stub(reference, "return None"),
        "class Box:\n    pass\n    def __init__(self, w):\n        return None\n    @property\n    def area(self):\n        return None\ndef f(a, b=2):\n    return None\n    def g(x):\n        return None\n"
    );
}

#[test]
fn the_set_is_well_formed() {
    let problems = all_problems();
    let mut ids = HashSet::new();
    let mut by_difficulty: BTreeMap<String, usize> = BTreeMap::new();
    let mut stdio = 0;
    for p in &problems {
        assert!(ids.insert(p.id.clone()), "duplicate id {}", p.id);
        assert!(p.id.starts_with("bundled/"), "{}", p.id);
        assert_eq!(p.source.as_deref(), Some(BUNDLED_PROBLEMS_NAME), "{}", p.id);
        assert!(!reference(p).trim().is_empty(), "{}: empty reference", p.id);
        let meta = p.meta.as_ref().unwrap();
        let difficulty = meta["difficulty"].as_str().unwrap_or_default();
        assert!(
            ["easy", "medium", "hard"].contains(&difficulty),
            "{}: difficulty {difficulty:?}",
            p.id
        );
        *by_difficulty.entry(difficulty.to_string()).or_default() += 1;
        match p.test_type {
            TestType::Assert => {
                let entry = p.entry_point.as_deref().unwrap_or_default();
                assert!(!entry.is_empty(), "{}: no entry point", p.id);
                assert!(
                    p.prompt.contains(&format!("`{entry}")),
                    "{}: the prompt does not name `{entry}`",
                    p.id
                );
                let asserts = p.tests.lines().filter(|l| l.starts_with("assert ")).count();
                assert!((3..=8).contains(&asserts), "{}: {asserts} asserts", p.id);
            }
            TestType::Stdio => {
                stdio += 1;
                let cases = p.cases.as_deref().unwrap_or_default();
                assert!(
                    (2..=4).contains(&cases.len()),
                    "{}: {} cases",
                    p.id,
                    cases.len()
                );
                for case in cases {
                    assert!(!case.output.trim().is_empty(), "{}: empty output", p.id);
                }
            }
        }
    }
    let total = problems.len();
    println!("bundled: {total} problems, {stdio} stdio, difficulty {by_difficulty:?}");
    assert!(total >= 150, "{total} problems");
    assert!(
        stdio >= 25 && total - stdio >= 120,
        "{stdio} stdio of {total}"
    );
    // Roughly 40/40/20 easy/medium/hard.
    let share = |d: &str| by_difficulty.get(d).copied().unwrap_or(0) as f64 / total as f64;
    assert!(
        share("easy") >= 0.3 && share("medium") >= 0.3,
        "{by_difficulty:?}"
    );
    assert!(share("hard") >= 0.15, "{by_difficulty:?}");
}

/// Everything of a problem a model could be trained on: statement, tests, reference.
fn full_text(p: &Problem) -> String {
    let mut text = format!("{}\n{}\n{}\n", p.prompt, p.tests, reference(p));
    for case in p.cases.as_deref().unwrap_or_default() {
        text.push_str(&format!("{}\n{}\n", case.input, case.output));
    }
    text
}

#[test]
fn no_problem_shares_a_13_gram_with_humaneval() {
    let path = ArtifactStore::from_env(FetchMode::Offline)
        .file(&HUMANEVAL)
        .expect("HumanEval is installed by `distill setup`");
    let index = Decontaminator::humaneval(&path).unwrap();
    // The index is live: a HumanEval task's own text is flagged.
    let tasks = load_humaneval(&path).unwrap();
    assert_eq!(tasks.len(), 164);
    let own = tasks[0].to_benchmark_text().text;
    assert_eq!(index.check(&own).unwrap().task_id, "HumanEval/0");
    let problems = all_problems();
    let texts: Vec<String> = problems.iter().map(full_text).collect();
    let hits: Vec<String> = index
        .run(
            problems
                .iter()
                .map(|p| p.id.as_str())
                .zip(texts.iter().map(String::as_str)),
        )
        .into_iter()
        .filter_map(|r| {
            r.contamination
                .map(|c| format!("{}: {} on {:?}", r.id, c.task_id, c.ngram))
        })
        .collect();
    assert!(hits.is_empty(), "contaminated:\n{}", hits.join("\n"));
}

#[test]
fn no_near_duplicates_inside_the_set() {
    let problems = all_problems();
    let ids: Vec<&str> = problems.iter().map(|p| p.id.as_str()).collect();
    for (what, texts) in [
        (
            "reference",
            problems.iter().map(reference).collect::<Vec<_>>(),
        ),
        (
            "prompt",
            problems.iter().map(|p| p.prompt.as_str()).collect(),
        ),
    ] {
        let results = dedup(
            ids.iter().copied().zip(texts.iter().copied()),
            DedupConfig::default(),
        )
        .unwrap();
        let dups: Vec<String> = results
            .iter()
            .filter(|r| !r.decision.is_keep())
            .map(|r| format!("{} ~ {:?}", r.id, r.decision))
            .collect();
        assert!(
            dups.is_empty(),
            "{what} near-duplicates:\n{}",
            dups.join("\n")
        );
    }
    // The step is live: the first reference, reindented and with a comment, is caught.
    let first = reference(&problems[0]);
    let copy = format!("# copied\n{}", first.replace("    ", "  "));
    let results = dedup(
        [(ids[0], first), ("copy", copy.as_str())],
        DedupConfig::default(),
    )
    .unwrap();
    assert!(
        matches!(results[1].decision, Decision::ExactDuplicate { .. }),
        "{:?}",
        results[1]
    );
}
