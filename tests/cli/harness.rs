//! Helpers: run the built `distill` binary in a temp dir, locate the installed cache.

use sandbox::artifacts::{ArtifactStore, FetchMode};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the `distill` binary cargo built for these tests.
pub fn distill_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_distill"))
}

/// A `distill` command (inheriting `DISTILL_CACHE` and friends from the test env).
pub fn distill() -> Command {
    Command::new(distill_exe())
}

/// The cache `distill setup` filled (offline: nothing is fetched here).
pub fn installed_store() -> ArtifactStore {
    ArtifactStore::from_env(FetchMode::Offline)
}

/// Runs a command and returns its output (never panics on a non-zero exit).
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("spawning distill")
}

/// The stderr of a run, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("writing a test file");
    path
}

/// Copies a directory tree (used to make a scratch copy of the installed cache).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
