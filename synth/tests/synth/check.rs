//! The checker on its own: the static gate compiles without running, stdio cases are
//! compared per case, failures are classified, and demo code is stripped.

use crate::harness::checker;
use datasets::records::{Case, Problem, TestType};
use synth::VerdictClass;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn the_gate_compiles_without_running() {
    let c = checker();
    let syntax = block_on(c.compile_gate("def f(:\n    pass\n"))
        .unwrap()
        .unwrap();
    assert_eq!(syntax.class, VerdictClass::Syntax);
    assert!(
        syntax.detail.starts_with("SyntaxError"),
        "{}",
        syntax.detail
    );
    assert!(syntax.stderr.contains("line 1"), "{}", syntax.stderr);
    // Code that would fail at run time passes the gate: it is compiled, not run.
    assert_eq!(
        block_on(c.compile_gate("raise SystemExit(1)\n")).unwrap(),
        None
    );
    assert_eq!(
        block_on(c.compile_gate("import sys\nsys.exit(1)\n")).unwrap(),
        None
    );
}

#[test]
fn stdio_cases_and_failure_classes() {
    let c = checker();
    let mut p = Problem::assert_style("s", "double", "");
    p.test_type = TestType::Stdio;
    p.cases = Some(vec![
        Case {
            input: "2\n".into(),
            output: "4\n".into(),
        },
        Case {
            input: "0\n".into(),
            output: "0\n".into(),
        },
    ]);
    // Right on case 1 by luck (2+2 == 2*2), wrong on case 2.
    let v = block_on(c.check(&p, "print(int(input()) + 2)\n")).unwrap();
    assert_eq!(v.class, VerdictClass::Failed);
    assert!(v.detail.starts_with("Test case 2 failed."), "{}", v.detail);
    assert!(v.detail.contains("Your output:\n2"), "{}", v.detail);
    let v = block_on(c.check(&p, "print(int(input()) * 2)\n")).unwrap();
    assert_eq!(v.class, VerdictClass::Passed);
    let v = block_on(c.check(&p, "print(1 / 0)\n")).unwrap();
    assert_eq!(v.class, VerdictClass::Error);
    assert!(v.detail.contains("ZeroDivisionError"), "{}", v.detail);

    let a = Problem::assert_style("a", "f", "assert f() == 1\n");
    assert_eq!(
        block_on(c.check(&a, "def f():\n    return 1\n"))
            .unwrap()
            .class,
        VerdictClass::Passed
    );
    assert_eq!(
        block_on(c.check(&a, "def f():\n    return 2\n"))
            .unwrap()
            .class,
        VerdictClass::Failed
    );
    assert_eq!(
        block_on(c.check(&a, "def g():\n    return 1\n"))
            .unwrap()
            .class,
        VerdictClass::Error
    );
}

#[test]
fn stripping_keeps_definitions_and_drops_demo_code() {
    let c = checker();
    // A typical small-model answer: a correct function, then a self-test with a wrong
    // expected value and a print.
    let answer = "import math\n\n@staticmethod\ndef unused():\n    pass\n\nLIMIT: int = 3\n\ndef area(r):\n    return math.pi * r * r\n\nassert area(1) == 3\nprint(area(2))\nif __name__ == \"__main__\":\n    area(3)\n";
    let kept = block_on(c.strip_demo_code(answer)).unwrap().unwrap();
    // By hand: the import, the decorated def (decorator line included), the annotated
    // assignment and `area`, joined by blank lines; the assert, print and main block go.
    assert_eq!(
        kept,
        "import math\n\n@staticmethod\ndef unused():\n    pass\n\nLIMIT: int = 3\n\ndef area(r):\n    return math.pi * r * r\n"
    );
    let mut p = Problem::assert_style("p", "area", "assert abs(area(2) - 12.566) < 1e-3");
    p.entry_point = Some("area".into());
    // The raw answer fails on its own wrong assert; the stripped one passes the tests.
    assert_eq!(
        block_on(c.check(&p, answer)).unwrap().class,
        VerdictClass::Failed
    );
    assert_eq!(
        block_on(c.check(&p, &kept)).unwrap().class,
        VerdictClass::Passed
    );
    // An answer cut off inside its self-test keeps the complete definitions before it.
    let truncated =
        "def area(r):\n    return 3.14159 * r * r\n\ncases = [\n    (1, 3.14),\n    (2,";
    assert_eq!(
        block_on(c.strip_demo_code(truncated)).unwrap().unwrap(),
        "def area(r):\n    return 3.14159 * r * r\n"
    );
    // Nothing to keep, or no parse: None (the gate reports the syntax error).
    assert_eq!(block_on(c.strip_demo_code("print(1)\n")).unwrap(), None);
    assert_eq!(block_on(c.strip_demo_code("def f(:\n")).unwrap(), None);
}
