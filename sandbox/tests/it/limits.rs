//! Limits and isolation from the host: time, memory, output, recursion, files,
//! environment, network, processes.

use crate::harness::{quick_limits, run, run_code};
use sandbox::{Job, Limits, Status};
use std::time::{Duration, Instant};

#[test]
fn infinite_loop_times_out_within_deadline_plus_one_second() {
    let start = Instant::now();
    let o = run(Job::new("while True: pass").with_limits(quick_limits(500)));
    assert_eq!(o.status, Status::Timeout, "{o:?}");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn code_that_never_returns_to_the_interpreter_loop_times_out() {
    // One C-level call (no bytecode boundaries): the deadline must still fire.
    let start = Instant::now();
    let o = run(Job::new("sum(range(10**13))").with_limits(quick_limits(500)));
    assert_eq!(o.status, Status::Timeout, "{o:?}");
    assert!(start.elapsed() < Duration::from_millis(1500));
    let o =
        run(Job::new("import re\nre.match('(a+)+$', 'a' * 64 + 'b')")
            .with_limits(quick_limits(500)));
    assert_eq!(o.status, Status::Timeout, "{o:?}");
}

#[test]
fn sleeping_past_the_deadline_times_out_and_keeps_output() {
    let start = Instant::now();
    let o = run(
        Job::new("print('before', flush=True)\nimport time\ntime.sleep(60)")
            .with_limits(quick_limits(500)),
    );
    assert_eq!(o.status, Status::Timeout, "{o:?}");
    assert!(start.elapsed() < Duration::from_millis(1500));
    assert_eq!(o.stdout.text(), "before\n");
}

#[test]
fn blocked_stdin_read_does_not_hang() {
    let o = run(
        Job::new("import sys\ndata = sys.stdin.read()\nprint(repr(data))")
            .with_limits(quick_limits(2000)),
    );
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(o.stdout.text(), "''\n");
}

#[test]
fn two_gib_allocation_hits_the_memory_limit() {
    for code in [
        "x = bytearray(2 * 1024**3 - 1)",
        "x = 'a' * (1024**3)",
        "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024**2))",
    ] {
        let o = run_code(code);
        assert_eq!(o.status, Status::MemoryLimit, "{code}: {o:?}");
        assert_eq!(
            o.exception.as_ref().map(|e| e.kind.as_str()),
            Some("MemoryError")
        );
    }
    // The sandbox survives and the next job runs normally.
    assert_eq!(
        run_code("x = bytearray(10**6); print(len(x))")
            .stdout
            .text(),
        "1000000\n"
    );
}

#[test]
fn memory_limit_is_configurable() {
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let o = run(Job::new("x = bytearray(200 * 1024**2)").with_limits(limits));
    assert_eq!(o.status, Status::MemoryLimit, "{o:?}");
    let o = run(Job::new("x = bytearray(200 * 1024**2)"));
    assert_eq!(o.status, Status::Ok, "{o:?}");
}

#[test]
fn printing_100_mb_hits_the_output_limit_with_bounded_capture() {
    let o = run_code(
        "import sys\nchunk = 'x' * 1_000_000\nfor _ in range(100):\n    sys.stdout.write(chunk)\n",
    );
    assert_eq!(o.status, Status::OutputLimit, "{o:?}");
    assert!(o.stdout.truncated);
    assert_eq!(o.stdout.bytes.len(), Limits::DEFAULT_OUTPUT_BYTES);
    assert!(
        o.stdout
            .text()
            .ends_with("[distill: output truncated after 1048576 bytes]\n")
    );
    let o = run_code("import sys\nwhile True:\n    sys.stderr.write('e' * 4096)\n");
    assert_eq!(o.status, Status::OutputLimit, "{o:?}");
    assert_eq!(o.stderr.bytes.len(), Limits::DEFAULT_OUTPUT_BYTES);
}

#[test]
fn catching_the_write_error_does_not_escape_the_output_limit() {
    let o = run_code(
        "import sys\nfor _ in range(10000):\n    try:\n        print('y' * 10000)\n    except BaseException:\n        pass\nprint('escaped')\n",
    );
    assert_eq!(o.status, Status::OutputLimit, "{o:?}");
}

#[test]
fn deep_recursion_is_a_recursion_error() {
    let o = run_code("def f(n):\n    return f(n + 1)\nf(0)");
    assert_eq!(o.status, Status::Error, "{o:?}");
    assert_eq!(o.exception.unwrap().kind, "RecursionError");
}

#[test]
fn no_host_filesystem() {
    let o = run_code("print(open('/etc/passwd').read())");
    assert_eq!(o.status, Status::Error);
    assert_eq!(o.exception.unwrap().kind, "FileNotFoundError");
    let o = run_code("import os\nprint(os.listdir('/'))");
    assert_eq!(o.status, Status::Error, "{o:?}");
    let o = run_code("import os\nprint(os.listdir('.'))");
    assert_eq!(o.status, Status::Error, "{o:?}");
}

#[test]
fn no_host_environment_or_information() {
    let o = run_code(
        "import os\nprint(dict(os.environ))\nprint(os.getcwd() if hasattr(os, 'getcwd') else '')",
    );
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let text = o.stdout.text();
    assert!(text.starts_with("{}\n"), "environment leaked: {text}");
    for secret in ["PATH", "HOME", "CARGO", "/root", "/work"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn no_network() {
    let o = run_code("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 80))");
    assert_eq!(o.status, Status::Error, "{o:?}");
    let o = run_code("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:1/')");
    assert_eq!(o.status, Status::Error, "{o:?}");
}

#[test]
fn no_processes() {
    let o = run_code("import subprocess\nsubprocess.run(['ls'])");
    assert_eq!(o.status, Status::Error, "{o:?}");
    let o = run_code("import os\nos.system('ls')");
    assert_eq!(o.status, Status::Error, "{o:?}");
    assert_eq!(o.exception.unwrap().kind, "AttributeError");
    let o = run_code("import os\nos.fork()");
    assert_eq!(o.status, Status::Error, "{o:?}");
}
