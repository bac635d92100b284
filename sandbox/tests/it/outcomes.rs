//! Every way a job can end is classified: ok, exceptions (assert vs others), syntax,
//! exit codes, stdin, argv, unicode and binary output.

use crate::harness::{run, run_code};
use sandbox::{Job, Status};

#[test]
fn passing_program_is_ok_with_stdout() {
    let o = run_code("print('hi'); print(2 + 3)");
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(o.exit_code, Some(0));
    assert_eq!(o.stdout.text(), "hi\n5\n");
}

#[test]
fn failed_assert_is_error_with_assertion_error() {
    let o = run_code("def f(x):\n    return x\nassert f(2) == 3, 'f(2) should be 3'\n");
    assert_eq!(o.status, Status::Error);
    assert_eq!(o.exit_code, Some(1));
    assert!(o.is_assertion_error());
    let e = o.exception.as_ref().unwrap();
    assert_eq!(e.message, "f(2) should be 3");
    assert!(e.traceback.contains("line 3"), "{}", e.traceback);
    // The failing line's source is shown, as in a native traceback.
    assert!(e.traceback.contains("assert f(2) == 3"), "{}", e.traceback);
    assert!(o.stderr.text().contains("AssertionError: f(2) should be 3"));
}

#[test]
fn other_exception_is_error_but_not_assertion() {
    let o = run_code("{}['missing']");
    assert_eq!(o.status, Status::Error);
    assert!(!o.is_assertion_error());
    assert_eq!(o.exception.unwrap().kind, "KeyError");
}

#[test]
fn syntax_error_is_syntax() {
    let o = run_code("def f(:\n    pass\n");
    assert_eq!(o.status, Status::Syntax);
    assert_eq!(o.exception.unwrap().kind, "SyntaxError");
    let o = run_code("if True:\nprint(1)\n");
    assert_eq!(o.status, Status::Syntax);
    assert_eq!(o.exception.unwrap().kind, "IndentationError");
}

#[test]
fn sys_exit_codes() {
    let o = run_code("import sys\nsys.exit(3)");
    assert_eq!((o.status, o.exit_code), (Status::Error, Some(3)));
    let o = run_code("import sys\nsys.exit(0)");
    assert_eq!((o.status, o.exit_code), (Status::Ok, Some(0)));
    let o = run_code("import sys\nsys.exit('bad input')");
    assert_eq!((o.status, o.exit_code), (Status::Error, Some(1)));
    assert_eq!(o.stderr.text(), "bad input\n");
}

#[test]
fn input_without_stdin_sees_eof() {
    let o = run_code("x = input()");
    assert_eq!(o.status, Status::Error);
    assert_eq!(o.exception.unwrap().kind, "EOFError");
}

#[test]
fn input_with_stdin_and_argv() {
    let code = "import sys\na = int(input()); b = int(input())\nprint(a + b, sys.argv[1:])";
    let o = run(Job::new(code)
        .with_stdin("2\n40\n")
        .with_argv(vec!["--x".into(), "y".into()]));
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(o.stdout.text(), "42 ['--x', 'y']\n");
    let o =
        run(Job::new("import sys; print(len(sys.stdin.read()))").with_stdin(vec![b'a'; 100_000]));
    assert_eq!(o.stdout.text(), "100000\n");
}

#[test]
fn unicode_and_binary_output_survive() {
    let code = "import sys\nprint('héllo ✓ 日本 🐍')\nsys.stdout.flush()\nsys.stdout.buffer.write(bytes([0, 255, 10]))\nsys.stderr.write('ошибка\\n')";
    let o = run_code(code);
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let mut expected = "héllo ✓ 日本 🐍\n".as_bytes().to_vec();
    expected.extend([0u8, 255, 10]);
    assert_eq!(o.stdout.bytes, expected);
    assert_eq!(o.stderr.text(), "ошибка\n");
}

#[test]
fn common_stdlib_modules_import() {
    let o = run_code(
        "import math, re, collections, itertools, functools, heapq, bisect, string, json, \
         random, statistics, fractions, decimal, typing, dataclasses, unittest, datetime\n\
         from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\nassert P(3).x == 3\n\
         assert math.gcd(12, 18) == 6\nprint(json.dumps({'a': [1, 2]}))",
    );
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(o.stdout.text(), "{\"a\": [1, 2]}\n");
}

#[test]
fn unittest_main_runs_and_reports() {
    let code = "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        self.assertEqual(1 + 1, 2)\n    def test_bad(self):\n        self.assertEqual(1 + 1, 3)\nunittest.main()\n";
    let o = run_code(code);
    assert_eq!(o.status, Status::Error, "{o:?}");
    assert_eq!(o.exit_code, Some(1));
    assert!(
        o.stderr.text().contains("FAILED (failures=1)"),
        "{}",
        o.stderr.text()
    );
}
