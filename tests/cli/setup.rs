//! `distill setup`: offline re-runs are no-ops, a damaged runtime cache is detected (and
//! rebuilt online), an unreachable registry is one clear error.

use crate::harness::{copy_tree, distill, installed_store, output, stderr, write};
use sandbox::runtime;

#[test]
fn rerun_offline_is_a_noop() {
    let out = output(distill().args(["setup", "--offline"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("downloading"), "{}", stderr(&out));
}

#[test]
fn damaged_runtime_is_detected_then_rebuilt() {
    let installed = runtime::locate(&installed_store()).expect("runtime installed by setup");
    let key_dir = installed.path.parent().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let cache = scratch.path();
    let copied_key_dir = cache.join("runtime").join(key_dir.file_name().unwrap());
    copy_tree(key_dir, &copied_key_dir);
    copy_tree(
        &installed_store().root().join("tools"),
        &cache.join("tools"),
    );
    // Truncate the runtime: a torn download or a disk error.
    let wasm = copied_key_dir.join("runner.wasm");
    let bytes = std::fs::read(&wasm).unwrap();
    std::fs::write(&wasm, &bytes[..bytes.len() / 2]).unwrap();

    let ok = write(cache, "ok.py", "pass\n");
    let out = output(
        distill()
            .env("DISTILL_CACHE", cache)
            .env_remove("DISTILL_PYTHON_RUNTIME")
            .args(["sandbox", "run"])
            .arg(&ok),
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("damaged") && text.contains("distill setup"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");

    // Setup rebuilds it from the cached, verified tool (no download needed for that).
    let out = output(
        distill()
            .env("DISTILL_CACHE", cache)
            .env_remove("DISTILL_PYTHON_RUNTIME")
            .args(["setup"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("rebuilding"), "{}", stderr(&out));
    let out = output(
        distill()
            .env("DISTILL_CACHE", cache)
            .env_remove("DISTILL_PYTHON_RUNTIME")
            .args(["sandbox", "run"])
            .arg(&ok),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn unreachable_registry_is_one_clear_error() {
    let scratch = tempfile::tempdir().unwrap();
    let out = output(
        distill()
            .env("DISTILL_CACHE", scratch.path())
            .env_remove("DISTILL_PYTHON_RUNTIME")
            .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
            .env("PIP_FIND_LINKS", "")
            .env("PIP_NO_CACHE_DIR", "1")
            .args(["setup"]),
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains("could not download componentize-py==0.25.1"),
        "{text}"
    );
}

#[test]
fn runtime_path_override_needs_no_setup() {
    // An empty cache except for the compiled code, and the runtime given by path: runs
    // without `distill setup` ever having built anything into this cache.
    let installed = runtime::locate(&installed_store()).expect("runtime installed by setup");
    let scratch = tempfile::tempdir().unwrap();
    copy_tree(
        &installed_store().root().join("compiled"),
        &scratch.path().join("compiled"),
    );
    let ok = write(scratch.path(), "ok.py", "print('override')\n");
    let out = output(
        distill()
            .env("DISTILL_CACHE", scratch.path())
            .env("DISTILL_PYTHON_RUNTIME", &installed.path)
            .args(["sandbox", "run"])
            .arg(&ok),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "override\n");
    let out = output(
        distill()
            .env("DISTILL_CACHE", scratch.path())
            .env_remove("DISTILL_PYTHON_RUNTIME")
            .args(["sandbox", "run"])
            .arg(&ok),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "without the override there is no runtime"
    );
}
