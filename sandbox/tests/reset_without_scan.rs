//! Resets without a page-table scan (`vendor/wasmtime`, `distill patch` in
//! `src/runtime/vm/cow.rs`). While the process takes no page fault, a pooled memory is
//! reset by copying back the pages the last scan found written, instead of asking the
//! kernel again. This test checks that no job ever sees what an earlier job wrote,
//! whichever path the reset took: a job that writes pages no job wrote before (each
//! first write is a copy-on-write fault, so the next reset must scan) and the same job
//! again (its pages are known, so the reset may skip the scan). It is alone in its test
//! binary so that no other test's page faults force every reset to scan.
//!
//! Needs the runtime built by `distill setup`, like the other sandbox tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sandbox::{Job, Sandbox, SandboxOptions, Status};

/// Prints, for each module in `MODULES`, how many public attributes are `None` and a
/// few results that depend on the module's functions. Runs before any job tampered
/// with anything, and after every tampering job: the output must never change.
const CHECK: &str = r#"
import sys
MODULES = ['math', 'json', 're', 'collections', 'string', 'textwrap', 'itertools',
           'functools', 'heapq', 'bisect', 'fractions', 'statistics', 'datetime',
           'dataclasses', 'enum', 'random', 'decimal', 'operator']
for name in MODULES:
    module = __import__(name)
    nones = sum(1 for k in dir(module) if not k.startswith('_') and getattr(module, k) is None)
    print(name, len(dir(module)), nones)
import math, json, re, collections, fractions
print(math.sqrt(16.0), json.dumps({'a': [1, 2]}), re.sub('b+', 'x', 'abbbc'),
      collections.Counter('hello').most_common(1), fractions.Fraction(3, 6))
print(sorted(k for k in sys.modules if k.startswith('planted')))
"#;

/// Sets every public attribute of the modules in `{names}` to `None`, and plants
/// modules and builtins; `{names}` is filled in per round.
const TAMPER: &str = r#"
import builtins, sys
for name in {names}:
    module = __import__(name)
    for k in [k for k in dir(module) if not k.startswith('_')]:
        try:
            setattr(module, k, None)
        except (AttributeError, TypeError):
            pass
    sys.modules['planted_' + name] = module
builtins.LEAKED = True
"#;

/// Module groups tampered with in turn: the first time each group's pages are
/// written, and again once they are known.
const GROUPS: [&str; 4] = [
    "['math', 'json', 're', 'collections']",
    "['string', 'textwrap', 'itertools', 'functools', 'heapq', 'bisect']",
    "['fractions', 'statistics', 'datetime', 'dataclasses']",
    "['enum', 'random', 'decimal', 'operator']",
];

fn run(sandbox: &Sandbox, code: &str) -> String {
    let outcome = sandbox
        .run_blocking(Job::new(code))
        .expect("sandbox failure");
    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
    outcome.stdout.text()
}

#[test]
fn no_job_sees_an_earlier_jobs_writes_whether_or_not_the_reset_scanned() {
    let sandbox = Sandbox::open(SandboxOptions {
        workers: Some(1),
        ..SandboxOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e} (tests need `cargo run --release -- setup`)"));

    let pristine = run(&sandbox, CHECK);
    assert!(pristine.contains("math "), "{pristine}");
    assert!(pristine.ends_with("[]\n"), "{pristine}");

    let (scanned_before, scan_free_before) = wasmtime::distill_memory_reset_counts();
    for round in 0..40 {
        let group = GROUPS[round % GROUPS.len()];
        run(&sandbox, &TAMPER.replace("{names}", group));
        let seen = run(&sandbox, CHECK);
        assert_eq!(
            seen, pristine,
            "round {round}: the job after tampering with {group} saw it"
        );
        let clean = run(
            &sandbox,
            "import builtins\nprint(hasattr(builtins, 'LEAKED'))",
        );
        assert_eq!(clean, "False\n", "round {round}");
    }
    let (scanned, scan_free) = wasmtime::distill_memory_reset_counts();
    let (scanned, scan_free) = (scanned - scanned_before, scan_free - scan_free_before);
    println!("resets: {scanned} scanned the page tables, {scan_free} did not");
    // The first round of each group writes pages for the first time: those resets must
    // have scanned. Once every group's pages are known, most resets skip the scan; if
    // none did, this test no longer covers that path.
    assert!(
        scanned >= GROUPS.len() as u64,
        "{scanned} resets scanned, {scan_free} did not"
    );
    assert!(
        scan_free >= 20,
        "only {scan_free} of {} resets skipped the scan",
        scanned + scan_free
    );
}
