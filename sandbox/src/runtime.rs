//! The sandbox runtime: a WebAssembly component holding CPython 3.14 for WASI and the
//! guest harness (`sandbox/guest/app.py`), pre-initialized by componentize-py so the
//! interpreter and the common standard-library modules are already loaded when a job's
//! fresh instance starts.
//!
//! `provision` builds it once into the cache (the tool is a pinned, verified wheel);
//! `locate` finds it for running, honouring the `DISTILL_PYTHON_RUNTIME` override.

use crate::SandboxError;
use crate::artifacts::{ArtifactError, ArtifactStore, COMPONENTIZE_PY, sha256_file};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The guest harness source, baked into the runtime.
pub const GUEST_APP: &str = include_str!("../guest/app.py");
/// The WIT world the harness implements: `run(code, argv) -> report-json`.
pub const GUEST_WIT: &str = include_str!("../guest/runner.wit");
/// Environment variable naming a prebuilt runtime component to use instead of the cache.
pub const RUNTIME_ENV: &str = "DISTILL_PYTHON_RUNTIME";

/// A runtime component file and its sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeComponent {
    /// Path of the `.wasm` component.
    pub path: PathBuf,
    /// sha256 of the file (keys the compiled-artifact cache).
    pub sha256: String,
}

impl RuntimeComponent {
    /// A component at an explicit path (hashing it).
    pub fn at(path: impl Into<PathBuf>) -> Result<Self, SandboxError> {
        let path = path.into();
        if !path.is_file() {
            return Err(SandboxError::RuntimeMissing {
                reason: format!("{} is not a file", path.display()),
            });
        }
        let sha256 = sha256_file(&path)?;
        Ok(RuntimeComponent { path, sha256 })
    }
}

/// Cache key of the runtime build: tool version and the exact harness sources.
fn build_key() -> String {
    let mut hasher = Sha256::new();
    hasher.update(COMPONENTIZE_PY.version.as_bytes());
    hasher.update([0]);
    hasher.update(GUEST_APP.as_bytes());
    hasher.update([0]);
    hasher.update(GUEST_WIT.as_bytes());
    hex::encode(hasher.finalize())[..16].to_string()
}

fn cached_paths(store: &ArtifactStore) -> (PathBuf, PathBuf) {
    let dir = store.root().join("runtime").join(build_key());
    (dir.join("runner.wasm"), dir.join("runner.wasm.sha256"))
}

/// Checks a cached build against the sha256 recorded when it was built.
fn check_cached(wasm: &Path, sidecar: &Path) -> Result<Option<RuntimeComponent>, String> {
    if !wasm.exists() {
        return Ok(None);
    }
    let recorded = std::fs::read_to_string(sidecar).map_err(|e| format!("no checksum: {e}"))?;
    let actual = sha256_file(wasm).map_err(|e| e.to_string())?;
    if recorded.trim() != actual {
        return Err(format!(
            "sha256 {actual} differs from {} recorded at build time",
            recorded.trim()
        ));
    }
    Ok(Some(RuntimeComponent {
        path: wasm.to_path_buf(),
        sha256: actual,
    }))
}

/// The runtime to run jobs with, without building anything: the `DISTILL_PYTHON_RUNTIME`
/// override if set, else the cached build. A damaged cached build is an error that says
/// to re-run setup.
pub fn locate(store: &ArtifactStore) -> Result<RuntimeComponent, SandboxError> {
    if let Some(path) = std::env::var_os(RUNTIME_ENV).filter(|s| !s.is_empty()) {
        return RuntimeComponent::at(PathBuf::from(path));
    }
    let (wasm, sidecar) = cached_paths(store);
    match check_cached(&wasm, &sidecar) {
        Ok(Some(runtime)) => Ok(runtime),
        Ok(None) => Err(SandboxError::RuntimeMissing {
            reason: format!("{} does not exist", wasm.display()),
        }),
        Err(reason) => Err(SandboxError::RuntimeMissing {
            reason: format!("{} is damaged: {reason}", wasm.display()),
        }),
    }
}

/// Makes sure the runtime is built and intact, building it if it is missing or damaged:
/// fetches componentize-py (pinned, verified) and bundles the harness with it.
pub fn provision(store: &ArtifactStore) -> Result<RuntimeComponent, SandboxError> {
    if let Some(path) = std::env::var_os(RUNTIME_ENV).filter(|s| !s.is_empty()) {
        return RuntimeComponent::at(PathBuf::from(path));
    }
    let (wasm, sidecar) = cached_paths(store);
    match check_cached(&wasm, &sidecar) {
        Ok(Some(runtime)) => return Ok(runtime),
        Ok(None) => {}
        Err(reason) => tracing::warn!("the cached runtime is damaged ({reason}); rebuilding it"),
    }
    let tool = store.wheel_dir(&COMPONENTIZE_PY)?;
    let work = store.scratch_dir()?;
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).map_err(|e| SandboxError::io(&src, e))?;
    for (name, text) in [("app.py", GUEST_APP), ("runner.wit", GUEST_WIT)] {
        let path = src.join(name);
        std::fs::write(&path, text).map_err(|e| SandboxError::io(&path, e))?;
    }
    let out = work.path().join("runner.wasm");
    run_componentize_py(&tool, &src, &out)?;
    let sha256 = sha256_file(&out)?;
    let staged_sidecar = work.path().join("runner.wasm.sha256");
    std::fs::write(&staged_sidecar, &sha256).map_err(|e| SandboxError::io(&staged_sidecar, e))?;
    if let Some(dir) = wasm.parent() {
        std::fs::create_dir_all(dir).map_err(|e| SandboxError::io(dir, e))?;
    }
    // The sidecar goes last: a crash in between leaves a build without a checksum, which
    // `check_cached` treats as damaged and rebuilds.
    std::fs::rename(&out, &wasm).map_err(|e| SandboxError::io(&wasm, e))?;
    std::fs::rename(&staged_sidecar, &sidecar).map_err(|e| SandboxError::io(&sidecar, e))?;
    Ok(RuntimeComponent { path: wasm, sha256 })
}

fn run_componentize_py(tool: &Path, src: &Path, out: &Path) -> Result<(), SandboxError> {
    let python = crate::artifacts::python_command();
    let launcher = "import sys; sys.path.insert(0, sys.argv.pop(1)); \
                    import componentize_py; sys.argv[0] = 'componentize-py'; \
                    componentize_py.script()";
    tracing::info!("building the sandbox runtime with componentize-py");
    let output = Command::new(&python)
        .arg("-I")
        .arg("-c")
        .arg(launcher)
        .arg(tool)
        .args(["-q", "-d"])
        .arg(src.join("runner.wit"))
        .args(["-w", "runner", "componentize", "-p"])
        .arg(src)
        .arg("-o")
        .arg(out)
        .arg("app")
        .current_dir(src)
        .env_remove("VIRTUAL_ENV")
        .env_remove("PYTHONPATH")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ArtifactError::Python {
            python: python.clone(),
            source,
        })?;
    if !output.status.success() || !out.is_file() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(SandboxError::Engine(format!(
            "componentize-py failed to build the runtime: {}",
            stderr.trim()
        )));
    }
    Ok(())
}
