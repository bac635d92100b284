//! Files written whole or not at all: the bytes go to a hidden temporary name in the
//! destination's directory (`.NAME.tmp`), which is renamed over the destination once
//! complete. A crash mid-write leaves the previous file (or none), never a torn one.
//! Adapters, exported models, the top-k teacher cache, the start eval and dpo's
//! reference cache all write through here; checkpoints rename a whole directory
//! instead ([`crate::checkpoint`]).

use crate::error::{Result, SftError};
use candle_core::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The temporary name `path` is written under before the rename.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SftError + use<> {
    let path = path.to_path_buf();
    move |source| SftError::Io { path, source }
}

/// Creates the parent directory of `path`, lets `write` fill the temporary file and
/// renames it over `path`.
fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    let tmp = temp_path(path);
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(io_error(path))
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(io_error(tmp))
    })
}

/// Writes `value` as pretty-printed JSON to `path` atomically.
pub fn write_json_pretty<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| SftError::InvalidArgument(format!("{}: {e}", path.display())))?;
    write_bytes(path, text.as_bytes())
}

/// Writes `tensors` as one safetensors file at `path` atomically.
pub fn write_safetensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    write_with(path, |tmp| {
        Ok(candle_core::safetensors::save(tensors, tmp)?)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_replace_the_file_and_leave_no_temporary() {
        let dir = std::env::temp_dir().join(format!("atomic-file-{}", std::process::id()));
        let path = dir.join("sub").join("a.json");
        write_bytes(&path, b"one").unwrap();
        write_json_pretty(&path, &serde_json::json!({"x": 2})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["x"],
            2
        );
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_previous_file() {
        let dir = std::env::temp_dir().join(format!("atomic-file-keep-{}", std::process::id()));
        let path = dir.join("t.safetensors");
        write_bytes(&path, b"previous").unwrap();
        let failed = write_with(&path, |_| {
            Err(SftError::InvalidArgument("disk full".into()))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
