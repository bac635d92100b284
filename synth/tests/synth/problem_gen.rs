//! `synth::problem_gen` end to end against the scripted server and the real sandbox:
//! one seed per scripted case (a good problem, a malformed answer, tests that do not
//! compile, a reference that fails its tests, tests a `pass` stub passes, a near
//! duplicate of the good problem, a second distinct problem, a teacher that keeps
//! failing), with the exact counts and kept records the script implies. Plus the seeds
//! reader's strict and lenient handling of bad lines.

use crate::harness::{checker, read_lines, teacher};
use crate::server::{Reply, ScriptServer, Seen};
use synth::problem_gen::{
    PROMPT_VERSION, ProblemGenOptions, generate_problems, read_seeds, report_path, write_outputs,
};

/// An answer in the format the prompt asks for.
fn answer(statement: &str, entry: &str, solution: &str, tests: &str) -> String {
    format!(
        "Here is the problem.\n\n[PROBLEM]\n{statement}\n\n[ENTRY_POINT]\n{entry}\n\n[SOLUTION]\n```python\n{solution}```\n\n[TESTS]\n```python\n{tests}```\n"
    )
}

const STATEMENT: &str = "Given a list of integers, return the sum of the squares of its \
elements. An empty list has sum zero, negative numbers are squared like any other number, \
and the input list must not be modified by the function.";
/// The same statement with one word changed ("not" → "never"): about 5 of ~60
/// five-token shingles differ, an estimated Jaccard similarity near 0.85 ≥ 0.7.
const NEAR_STATEMENT: &str = "Given a list of integers, return the sum of the squares of its \
elements. An empty list has sum zero, negative numbers are squared like any other number, \
and the input list must never be modified by the function.";
const SQUARES: &str = "def sum_squares(xs):\n    return sum(x * x for x in xs)\n";
const SQUARES_TESTS: &str =
    "assert sum_squares([1, 2]) == 5\nassert sum_squares([]) == 0\nassert sum_squares([-3]) == 9\n";
const REVERSE: &str = "def reverse_words(s):\n    return \" \".join(s.split()[::-1])\n";
const REVERSE_TESTS: &str =
    "assert reverse_words(\"a b c\") == \"c b a\"\nassert reverse_words(\"hello\") == \"hello\"\n";

fn script(seen: &Seen) -> Reply {
    let text = match seen.tag.as_str() {
        "good" => answer(STATEMENT, "sum_squares", SQUARES, SQUARES_TESTS),
        "malformed" => "Sure! Write a function that adds two numbers.".into(),
        "nocompile" => answer(
            "Return the product of a list of numbers, one for an empty list.",
            "product",
            "def product(xs):\n    p = 1\n    for x in xs:\n        p *= x\n    return p\n",
            "assert product([2, 3] == 6\n",
        ),
        "reffails" => answer(
            "Return the largest element of a non-empty list.",
            "largest",
            "def largest(xs):\n    return min(xs)\n",
            "assert largest([1, 5, 2]) == 5\n",
        ),
        // No assert at all: anything that defines the function passes.
        "stubpasses" => answer(
            "Return the length of a string without using len.",
            "length",
            "def length(s):\n    return sum(1 for _ in s)\n",
            "length(\"abc\")\nprint(\"done\")\n",
        ),
        "near" => answer(NEAR_STATEMENT, "sum_squares", SQUARES, SQUARES_TESTS),
        "other" => answer(
            "Return the words of a sentence in reverse order, joined by single spaces.",
            "`reverse_words()`",
            REVERSE,
            REVERSE_TESTS,
        ),
        _ => return Reply::Raw(500, vec![], "{\"error\":\"down\"}".into()),
    };
    Reply::Answer(text)
}

/// Seeds as a file: `code` and `snippet` forms, one without an id (named by its line).
const SEEDS: &str = concat!(
    r##"{"id": "good", "code": "# [[good]]\ndef sq(xs): return [x*x for x in xs]\n"}"##,
    "\n",
    r##"{"id": "malformed", "snippet": "# [[malformed]]\nprint(1 + 2)\n"}"##,
    "\n",
    r##"{"code": "# [[nocompile]]\nimport math\nmath.prod([2, 3])\n"}"##,
    "\n",
    r##"{"id": "reffails", "code": "# [[reffails]]\nmax([1, 2])\n", "lang": "python"}"##,
    "\n",
    "\n",
    r##"{"id": "stubpasses", "code": "# [[stubpasses]]\nn = 0\nfor c in 'abc': n += 1\n"}"##,
    "\n",
    r##"{"id": "near", "code": "# [[near]]\nsum(x ** 2 for x in range(4))\n"}"##,
    "\n",
    r##"{"id": "other", "snippet": "# [[other]]\n' '.join(reversed('a b'.split()))\n"}"##,
    "\n",
    r##"{"id": "down", "code": "# [[down]]\npass\n"}"##,
    "\n",
);

#[test]
fn generation_keeps_only_verified_distinct_problems() {
    let dir = tempfile::tempdir().unwrap();
    let seeds_path = dir.path().join("seeds.jsonl");
    std::fs::write(&seeds_path, SEEDS).unwrap();
    let (seeds, read) = read_seeds(&seeds_path, false).unwrap();
    let ids: Vec<&str> = seeds.iter().map(|s| s.id.as_str()).collect();
    // The third line has no id: it is named "3"; line 5 is blank.
    assert_eq!(
        ids,
        [
            "good",
            "malformed",
            "3",
            "reffails",
            "stubpasses",
            "near",
            "other",
            "down"
        ]
    );
    assert_eq!(seeds[1].code, "# [[malformed]]\nprint(1 + 2)\n");
    assert_eq!((read.lines, read.blank, read.bad.len()), (9, 1, 0));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (problems, report, requests) = rt.block_on(async {
        let server = ScriptServer::start(script).await;
        let (problems, report) = generate_problems(
            &seeds,
            teacher(&server),
            checker(),
            &ProblemGenOptions {
                concurrency: 4,
                ..ProblemGenOptions::default()
            },
        )
        .await
        .unwrap();
        (problems, report, server.requests())
    });

    // Kept: the good problem and the distinct one, in seed order.
    let kept: Vec<(&str, Option<&str>)> = problems
        .iter()
        .map(|p| (p.id.as_str(), p.entry_point.as_deref()))
        .collect();
    assert_eq!(
        kept,
        [
            ("gen/good-1", Some("sum_squares")),
            ("gen/other-1", Some("reverse_words"))
        ]
    );
    let good = &problems[0];
    assert_eq!(
        good.prompt,
        format!(
            "{STATEMENT}\n\nWrite a Python function with this signature:\n```python\ndef sum_squares(xs)\n```"
        )
    );
    assert_eq!(good.tests, SQUARES_TESTS);
    assert_eq!(good.source.as_deref(), Some("synth-problems"));
    let meta = good.meta.as_ref().unwrap();
    assert_eq!(meta["seed_id"], "good");
    assert_eq!(meta["teacher_model"], "scripted-model");
    assert_eq!(meta["prompt_version"], PROMPT_VERSION);
    assert_eq!(meta["reference"], SQUARES);
    assert_eq!(problems[1].tests, REVERSE_TESTS);

    // The counts the script implies: 8 requests, the 500s on `down` outlast the
    // retries; 7 answers, 6 parse (not `malformed`), one rejection per reason.
    assert_eq!(report.seeds, 8);
    assert_eq!(report.requests, 8);
    assert_eq!(report.teacher_failures, 1);
    assert_eq!(report.answers, 7);
    assert_eq!(report.parsed, 6);
    assert_eq!(report.kept, 2);
    let rejected: Vec<(&str, u64)> = report
        .rejected
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        rejected,
        [
            ("duplicate", 1),
            ("parse", 1),
            ("reference-fails", 1),
            ("stub-passes", 1),
            ("tests-do-not-compile", 1)
        ]
    );
    let why: Vec<(&str, &str)> = report
        .rejections
        .iter()
        .map(|r| (r.id.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        why,
        [
            ("gen/malformed-1", "parse"),
            ("gen/3-1", "tests-do-not-compile"),
            ("gen/reffails-1", "reference-fails"),
            ("gen/stubpasses-1", "stub-passes"),
            ("gen/near-1", "duplicate")
        ]
    );
    assert_eq!(report.rejections[0].detail, "no [PROBLEM] section");
    assert!(
        report.rejections[1].detail.starts_with("SyntaxError"),
        "{}",
        report.rejections[1].detail
    );
    assert!(
        report.rejections[2].detail.starts_with("failed:"),
        "{}",
        report.rejections[2].detail
    );
    assert_eq!(
        report.rejections[4].detail,
        "a near duplicate of gen/good-1"
    );

    // Every request carried its seed and the generation settings.
    let mut tags: Vec<String> = requests
        .iter()
        .filter(|r| r.tag != "down")
        .map(|r| r.tag.clone())
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            "good",
            "malformed",
            "near",
            "nocompile",
            "other",
            "reffails",
            "stubpasses"
        ]
    );
    for r in &requests {
        // Sent as an f32: 0.7 widened to f64 is 0.699999988...
        assert!((r.body["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
        assert_eq!(r.body["max_tokens"], 1024);
        assert_eq!(r.body["seed"], 0);
    }

    // Independently of the filter: each kept problem's reference passes its tests
    // (the synth preflight), and the kept records round-trip through the output file.
    let c = checker();
    for p in &problems {
        assert_eq!(rt.block_on(c.preflight(p)).unwrap(), None, "{}", p.id);
    }
    let out = dir.path().join("problems.jsonl");
    write_outputs(&out, &problems, &report).unwrap();
    let lines = read_lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["format"], "problem.v1");
    assert_eq!(lines[1]["id"], "gen/other-1");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_path(&out)).unwrap()).unwrap();
    assert_eq!(written["kept"], 2);
    assert_eq!(written["rejected"]["stub-passes"], 1);
    assert_eq!(written["prompt_version"], PROMPT_VERSION);
}

#[test]
fn bad_seed_lines_are_named_strictly_and_counted_leniently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seeds.jsonl");
    std::fs::write(
        &path,
        concat!(
            r##"{"id": "a", "code": "x = 1"}"##,
            "\n",
            r##"{"id": "b", "text": "x = 2"}"##,
            "\n",
            r##"{"id": "a", "snippet": "x = 3"}"##,
            "\n",
            r##"{"id": "c", "code": 4}"##,
            "\n",
            r##"{"id": "d", "code": "x = 5", "snippet": "x = 5"}"##,
            "\n",
            r##"{"id": "e", "code": "x = 6"}"##,
            "\n",
        ),
    )
    .unwrap();
    let err = read_seeds(&path, false).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:2: code: required field is missing (or `snippet`)",
            path.display()
        )
    );
    let (seeds, read) = read_seeds(&path, true).unwrap();
    let ids: Vec<&str> = seeds.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a", "e"]);
    let bad: Vec<(u64, &str)> = read
        .bad
        .iter()
        .map(|b| (b.line, b.field.as_str()))
        .collect();
    assert_eq!(bad, [(2, "code"), (3, "id"), (4, "code"), (5, "code")]);
    assert_eq!(
        read.bad[1].reason,
        "duplicate seed id `a` (first on line 1)"
    );
    assert_eq!(read.records, 2);
}
