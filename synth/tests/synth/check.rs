//! The checker on its own: the static gate compiles without running, stdio cases are
//! compared per case, and failures are classified.

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
