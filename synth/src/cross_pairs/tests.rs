//! Pairing across runs on hand-built records: which answers meet, in which order, and
//! what is reported instead of paired.

use super::*;
use datasets::records::{Format, Outcome, Status, Teacher};

fn prompt(problem: &str) -> Vec<Message> {
    vec![
        Message::system("Answer with one python block."),
        Message::user(format!("Solve {problem}.")),
    ]
}

fn chosen(line: u64, problem: &str, answer: &str) -> ChosenAnswer {
    let mut messages = prompt(problem);
    messages.push(Message::assistant(answer));
    let mut record = SftRecord::new(messages);
    record.meta.problem_id = Some(problem.into());
    record.meta.extra.insert("sample".into(), json!(line));
    ChosenAnswer { line, record }
}

fn attempt(problem: &str, sample: u32, turn: u32, status: Status, code: Option<&str>) -> Attempt {
    Attempt {
        format: Format::new(),
        problem_id: problem.into(),
        sample,
        turn,
        messages: prompt(problem),
        completion: format!("Here it is:\n```python\n{}\n```\nDone.", code.unwrap_or("")),
        code: code.map(str::to_string),
        outcome: Outcome {
            status,
            stdout: String::new(),
            stderr: String::new(),
            exit_code: None,
            duration_ms: 1,
        },
        teacher: Teacher {
            model: "student".into(),
            params: Default::default(),
        },
        usage: None,
    }
}

const OPTIONS: CrossPairOptions = CrossPairOptions {
    per_problem: None,
    rejected: DpoRejected::AnyFailure,
    strip_demo_code: true,
};

fn texts(pairs: &CrossPairs) -> Vec<(String, String)> {
    pairs
        .pairs
        .iter()
        .map(|p| (p.chosen[0].content.clone(), p.rejected[0].content.clone()))
        .collect()
}

#[test]
fn pairs_ith_chosen_with_ith_failure_in_sample_order() {
    let chosen = [
        chosen(1, "a", "good a1"),
        chosen(2, "b", "good b1"),
        chosen(3, "a", "good a2"),
        chosen(4, "a", "good a3"),
    ];
    // Journal order is not (sample, turn) order; a passing student answer is never
    // rejected, and problem "a" has only two failures for three chosen answers.
    let attempts = [
        attempt("a", 1, 0, Status::Failed, Some("bad a s1")),
        attempt("a", 0, 0, Status::Error, Some("bad a s0")),
        attempt("a", 2, 0, Status::Passed, Some("fine")),
        attempt("b", 0, 0, Status::Timeout, Some("bad b s0")),
    ];
    let out = cross_pairs(&chosen, &attempts, OPTIONS);
    let fenced = |c: &str| format!("```python\n{c}\n```");
    assert_eq!(
        texts(&out),
        vec![
            ("good a1".into(), fenced("bad a s0")),
            ("good a2".into(), fenced("bad a s1")),
            ("good b1".into(), fenced("bad b s0")),
        ]
    );
    assert_eq!(out.pairs[0].prompt, prompt("a"));
    assert_eq!(out.report.problems_paired, 2);
    let meta = &out.pairs[1].meta;
    assert_eq!(meta.problem_id.as_deref(), Some("a"));
    assert_eq!(meta.extra["chosen"], json!({"line": 3, "sample": 3}));
    assert_eq!(meta.extra["rejected"]["sample"], json!(1));
    assert_eq!(meta.extra["rejected"]["class"], json!("failed"));
    assert_eq!(meta.extra["rejected"]["model"], json!("student"));
}

#[test]
fn rule_limit_and_formatting_of_the_rejected_side() {
    let chosen = [chosen(1, "a", "good 1"), chosen(2, "a", "good 2")];
    let attempts = [
        attempt("a", 0, 0, Status::Syntax, None),
        attempt("a", 1, 0, Status::Syntax, Some("def f(:")),
        attempt("a", 2, 0, Status::Failed, Some("wrong")),
    ];
    let executed = CrossPairOptions {
        rejected: DpoRejected::ExecutedOnly,
        ..OPTIONS
    };
    let out = cross_pairs(&chosen, &attempts, executed);
    assert_eq!(out.pairs.len(), 1);
    assert_eq!(out.pairs[0].rejected[0].content, "```python\nwrong\n```");

    // Any failure, one pair per problem, answers as the student wrote them.
    let raw = CrossPairOptions {
        per_problem: Some(1),
        strip_demo_code: false,
        ..OPTIONS
    };
    let out = cross_pairs(&chosen, &attempts, raw);
    assert_eq!(out.pairs.len(), 1);
    assert_eq!(out.pairs[0].rejected[0].content, attempts[0].completion);
}

#[test]
fn the_last_journal_line_of_a_sample_turn_wins() {
    // A resumed run may journal the same (sample, turn) twice; the run's own outputs
    // use the last line, so pairing does too.
    let chosen = [chosen(1, "a", "good")];
    let attempts = [
        attempt("a", 0, 0, Status::Failed, Some("first")),
        attempt("a", 0, 0, Status::Passed, Some("second")),
    ];
    let out = cross_pairs(&chosen, &attempts, OPTIONS);
    assert!(out.pairs.is_empty());
    assert_eq!(out.report.no_rejected, 1);
}

#[test]
fn reports_what_cannot_be_paired() {
    let mut no_id = chosen(1, "x", "good x");
    no_id.record.meta.problem_id = None;
    let mut other_prompt = chosen(3, "c", "good c");
    other_prompt.record.messages[0] = Message::system("Another template.");
    let chosen = [
        no_id,
        chosen(2, "a", "same"),
        other_prompt,
        chosen(4, "d", "good d"),
    ];
    let attempts = [
        attempt("a", 0, 0, Status::Failed, Some("same")),
        attempt("c", 0, 0, Status::Failed, Some("bad c")),
        attempt("e", 0, 0, Status::Failed, Some("bad e")),
    ];
    let raw = CrossPairOptions {
        strip_demo_code: false,
        ..OPTIONS
    };
    let mut attempts = attempts.to_vec();
    attempts[0].completion = "same".into();
    let out = cross_pairs(&chosen, &attempts, raw);
    assert!(out.pairs.is_empty());
    assert_eq!(
        out.report,
        CrossPairReport {
            problems_paired: 0,
            no_rejected: 1,
            no_chosen: 1,
            identical: 1,
            prompt_mismatch: vec!["c".into()],
            skipped: vec![SkippedChosen {
                line: 1,
                field: "meta.problem_id",
                reason: "missing: pairs are matched by problem".into(),
            }],
        }
    );
}

#[test]
fn a_dialogue_with_feedback_turns_is_paired_on_its_clean_prompt() {
    let mut good = chosen(1, "a", "first try");
    good.record
        .messages
        .push(Message::user("It failed: AssertionError."));
    good.record.messages.push(Message::assistant("fixed"));
    let attempts = [attempt("a", 0, 0, Status::Failed, Some("bad"))];
    let out = cross_pairs(&[good], &attempts, OPTIONS);
    assert_eq!(out.report.prompt_mismatch, Vec::<String>::new());
    assert_eq!(out.pairs.len(), 1);
    assert_eq!(out.pairs[0].prompt, prompt("a"));
    assert_eq!(out.pairs[0].chosen[0].content, "fixed");
}
