//! sha256 of files, streamed.

use super::ArtifactError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The lower-case hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String, ArtifactError> {
    sha256_raw(path)
        .map(hex::encode)
        .map_err(|e| ArtifactError::io(path, e))
}

/// The raw sha256 digest of a file's contents.
pub(crate) fn sha256_raw(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}
