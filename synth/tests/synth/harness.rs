//! Shared test pieces: one sandbox for all tests, the problem set, the answers the
//! scripted server gives, and a teacher pointed at a server.

use crate::server::{Reply, ScriptServer, Seen};
use datasets::records::{Case, Problem, TestType};
use sandbox::Limits;
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use synth::{Checker, OpenAiConfig, OpenAiTeacher, RetryPolicy, SynthOptions};

/// One sandbox (2 workers) for every test in this binary.
pub fn checker() -> Arc<Checker> {
    static CHECKER: OnceLock<Arc<Checker>> = OnceLock::new();
    Arc::clone(CHECKER.get_or_init(|| {
        let limits = Limits {
            timeout: Duration::from_secs(5),
            ..Limits::default()
        };
        Arc::new(Checker::open(Some(2), limits).expect("run `distill setup` first"))
    }))
}

pub const RIGHT_ADD: &str = "Sure:\n```python\ndef add(a, b):\n    return a + b\n```\n";
pub const WRONG_ADD: &str = "```python\ndef add(a, b):\n    return a - b\n```";
pub const NO_CODE: &str = "You can add two numbers with the plus operator.";
pub const SYNTAX_ADD: &str = "```python\ndef add(a, b)\n    return a + b\n```";
pub const RIGHT_SUM: &str = "```python\na, b = map(int, input().split())\nprint(a + b)\n```";
pub const WRONG_MUL: &str = "```python\ndef mul(a, b):\n    return a + b\n```";

fn add_problem(tag: &str) -> Problem {
    let mut p = Problem::assert_style(
        format!("t/{tag}"),
        format!("[[{tag}]] Write `add(a, b)` returning the sum of a and b."),
        "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n",
    );
    p.entry_point = Some("add".into());
    p
}

/// The problems of the scripted run, in file order.
pub fn problems() -> Vec<Problem> {
    let mut stdio =
        Problem::assert_style("t/stdio", "[[stdio]] Print the sum of two integers.", "");
    stdio.test_type = TestType::Stdio;
    stdio.cases = Some(vec![
        Case {
            input: "1 2\n".into(),
            output: "3\n".into(),
        },
        Case {
            input: "10 -4\n".into(),
            output: "6\n".into(),
        },
    ]);
    let mut never = Problem::assert_style(
        "t/never",
        "[[never]] Write `mul(a, b)` returning the product.",
        "assert mul(2, 3) == 6\n",
    );
    never.entry_point = Some("mul".into());
    let mut broken = add_problem("broken");
    broken.tests = "assert add(1, 2) == 4\n".into();
    broken.meta = Some(
        json!({"reference": "def add(a, b):\n    return a + b\n"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    vec![
        add_problem("add"),
        add_problem("nocode"),
        add_problem("syntax"),
        add_problem("faults"),
        stdio,
        never,
        broken,
    ]
}

/// The script: see each arm. Faults happen only on the first four requests of
/// problem `faults`: 429 (Retry-After: 1), 500, garbage JSON, a hang past the timeout.
pub fn script(seen: &Seen) -> Reply {
    match (seen.tag.as_str(), seen.turn) {
        ("add", 0) => Reply::Answer(WRONG_ADD.into()),
        ("nocode", 0) => Reply::Answer(NO_CODE.into()),
        ("syntax", 0) => Reply::Answer(SYNTAX_ADD.into()),
        ("faults", _) => match seen.nth {
            0 => Reply::Raw(
                429,
                vec![("Retry-After".into(), "1".into())],
                "{\"error\":\"slow down\"}".into(),
            ),
            1 => Reply::Raw(500, vec![], "{\"error\":\"boom\"}".into()),
            2 => Reply::Raw(200, vec![], "{\"choices\": [ garbage".into()),
            3 => Reply::Hang(Duration::from_secs(4)),
            _ => Reply::Answer(RIGHT_ADD.into()),
        },
        ("stdio", _) => Reply::Answer(RIGHT_SUM.into()),
        ("never", _) => Reply::Answer(WRONG_MUL.into()),
        _ => Reply::Answer(RIGHT_ADD.into()),
    }
}

/// A teacher for `server`: 1 s request timeout, 10 ms base backoff, 5 retries.
pub fn teacher(server: &ScriptServer) -> Arc<OpenAiTeacher> {
    let mut config = OpenAiConfig::new(server.url(), "scripted-model");
    config.api_key_env = "CARGO_PKG_NAME".into();
    config.request_timeout = Duration::from_secs(1);
    config.retry = RetryPolicy {
        max_retries: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    };
    config.max_concurrency = 4;
    Arc::new(OpenAiTeacher::new(config).unwrap())
}

/// 2 samples, 1 feedback turn, stop at 1 accepted sample.
pub fn options() -> SynthOptions {
    SynthOptions {
        samples: 2,
        max_feedback: 1,
        accept: 1,
        concurrency: 4,
        ..SynthOptions::default()
    }
}

/// Reads a JSONL file as JSON values.
pub fn read_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
