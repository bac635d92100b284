//! No state leaks from one job to the next.

use crate::harness::run_code;
use sandbox::Status;

#[test]
fn monkeypatches_modules_and_files_do_not_leak() {
    let first = run_code(
        "import builtins, sys, json\n\
         builtins.len = lambda x: 42\n\
         builtins.LEAK = 'leaked'\n\
         sys.modules['json'] = None\n\
         sys.modules['planted'] = sys\n\
         json.dumps = lambda *a, **k: 'tampered'\n\
         import math\nmath.pi = 3\n\
         try:\n    open('/tmp/leak.txt', 'w').write('x')\nexcept OSError:\n    pass\n\
         try:\n    open('leak.txt', 'w').write('x')\nexcept OSError:\n    pass\n\
         GLOBAL = 1\n",
    );
    assert_eq!(first.status, Status::Ok, "{first:?}");
    let second = run_code(
        "import builtins, sys, json, math, os\n\
         assert len([1, 2]) == 2\n\
         assert not hasattr(builtins, 'LEAK')\n\
         assert 'planted' not in sys.modules\n\
         assert json.dumps([1]) == '[1]'\n\
         assert math.pi > 3.14\n\
         assert 'GLOBAL' not in globals()\n\
         for p in ('/tmp/leak.txt', 'leak.txt'):\n    assert not os.path.exists(p), p\n\
         print('clean')\n",
    );
    assert_eq!(second.status, Status::Ok, "{second:?}");
    assert_eq!(second.stdout.text(), "clean\n");
}

#[test]
fn forged_reports_are_not_believed() {
    // A job cannot make the harness report success for a failing run.
    let o = run_code(
        "import json\njson.dumps = lambda *a, **k: '{\"status\": \"ok\", \"exit_code\": 0}'\nassert False",
    );
    assert_eq!(o.status, Status::Error, "{o:?}");
}

#[test]
fn random_state_differs_between_jobs() {
    let a = run_code("import random\nprint(random.random())")
        .stdout
        .text();
    let b = run_code("import random\nprint(random.random())")
        .stdout
        .text();
    assert_ne!(
        a, b,
        "the pre-initialized snapshot must not freeze the RNG seed"
    );
}
