//! Compile once: the runtime component compiled to native code is cached on disk, keyed
//! by the runtime's sha256 and the engine's version and settings, so later processes
//! load it (memory-mapped) in milliseconds instead of compiling for seconds.

use crate::artifacts::sha256_file;
use crate::{RuntimeComponent, SandboxError, engine::settings_key};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where the compiled form of `runtime` lives for this engine.
fn artifact_path(cache_root: &Path, engine: &Engine, runtime: &RuntimeComponent) -> PathBuf {
    cache_root.join("compiled").join(format!(
        "runner-{}-{}.cwasm",
        runtime.sha256.get(..16).unwrap_or(&runtime.sha256),
        settings_key(engine)
    ))
}

/// Loads the compiled runtime from the cache, compiling and caching it when missing,
/// damaged or built by another engine.
pub(crate) fn load_component(
    engine: &Engine,
    runtime: &RuntimeComponent,
    cache_root: &Path,
) -> Result<Component, SandboxError> {
    let path = artifact_path(cache_root, engine, runtime);
    let sidecar = path.with_extension("cwasm.sha256");
    if path.exists() {
        match load_cached(engine, &path, &sidecar) {
            Ok(component) => return Ok(component),
            Err(reason) => {
                tracing::warn!(
                    "compiled runtime {} unusable ({reason}); recompiling",
                    path.display()
                )
            }
        }
    }
    let bytes = std::fs::read(&runtime.path).map_err(|e| SandboxError::io(&runtime.path, e))?;
    tracing::info!("compiling the sandbox runtime (once per machine)");
    let compiled = engine
        .precompile_component(&bytes)
        .map_err(SandboxError::engine)?;
    let dir = path.parent().unwrap_or(cache_root);
    std::fs::create_dir_all(dir).map_err(|e| SandboxError::io(dir, e))?;
    let staged = tempfile::NamedTempFile::new_in(dir).map_err(|e| SandboxError::io(dir, e))?;
    std::fs::write(staged.path(), &compiled).map_err(|e| SandboxError::io(staged.path(), e))?;
    staged
        .persist(&path)
        .map_err(|e| SandboxError::io(&path, e.error))?;
    let digest = sha256_file(&path)?;
    std::fs::write(&sidecar, digest).map_err(|e| SandboxError::io(&sidecar, e))?;
    load_cached(engine, &path, &sidecar).map_err(SandboxError::Engine)
}

fn load_cached(engine: &Engine, path: &Path, sidecar: &Path) -> Result<Component, String> {
    let recorded = std::fs::read_to_string(sidecar).map_err(|e| format!("no checksum: {e}"))?;
    let actual = sha256_file(path).map_err(|e| e.to_string())?;
    if recorded.trim() != actual {
        return Err("checksum mismatch".to_string());
    }
    // SAFETY: `deserialize_file` trusts the file to be a artifact produced by
    // `Engine::precompile_component`. This one was written by `load_component` above
    // (into our own cache directory) and its sha256 still matches the one recorded right
    // after writing, so it is that artifact, unmodified. wasmtime itself rejects
    // artifacts from another version or with other settings.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize_file(engine, path) };
    component.map_err(|e| format!("{e:#}"))
}
