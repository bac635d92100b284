//! The `format` tag every record carries: `"<kind>.v<version>"`.
//!
//! Reading a record of another kind, or a version this build does not know,
//! fails with a message that names both the value found and the one expected.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// A record kind with its current format version.
pub trait RecordKind {
    /// Kind name as written in the tag (`"sft"`).
    const KIND: &'static str;
    /// The only version this build reads and writes.
    const VERSION: u32;
}

/// Marker for [`crate::records::Problem`]: tag `problem.v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemKind;
/// Marker for [`crate::records::Attempt`]: tag `attempt.v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptKind;
/// Marker for [`crate::records::SftRecord`]: tag `sft.v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SftKind;
/// Marker for [`crate::records::DpoRecord`]: tag `dpo.v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpoKind;

impl RecordKind for ProblemKind {
    const KIND: &'static str = "problem";
    const VERSION: u32 = 1;
}
impl RecordKind for AttemptKind {
    const KIND: &'static str = "attempt";
    const VERSION: u32 = 1;
}
impl RecordKind for SftKind {
    const KIND: &'static str = "sft";
    const VERSION: u32 = 1;
}
impl RecordKind for DpoKind {
    const KIND: &'static str = "dpo";
    const VERSION: u32 = 1;
}

/// The `format` field of a record of kind `K`; it only ever holds the current
/// version, so it carries no data.
pub struct Format<K>(PhantomData<K>);

impl<K: RecordKind> Format<K> {
    /// The current format tag.
    pub fn new() -> Self {
        Self(PhantomData)
    }

    /// The tag as written on disk, e.g. `"sft.v1"`.
    pub fn tag() -> String {
        format!("{}.v{}", K::KIND, K::VERSION)
    }
}

impl<K: RecordKind> Default for Format<K> {
    fn default() -> Self {
        Self::new()
    }
}
impl<K> Clone for Format<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Format<K> {}
impl<K> PartialEq for Format<K> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<K> Eq for Format<K> {}
impl<K: RecordKind> fmt::Debug for Format<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Format({})", Self::tag())
    }
}

impl<K: RecordKind> Serialize for Format<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Self::tag())
    }
}

impl<'de, K: RecordKind> Deserialize<'de> for Format<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let found = String::deserialize(d)?;
        check_tag::<K>(&found).map_err(de::Error::custom)?;
        Ok(Self::new())
    }
}

/// Checks a tag string against kind `K`, explaining any mismatch.
pub(crate) fn check_tag<K: RecordKind>(found: &str) -> Result<(), String> {
    let expected = Format::<K>::tag();
    if found == expected {
        return Ok(());
    }
    let (kind, version) = match found.rsplit_once(".v") {
        Some((k, v)) if v.parse::<u32>().is_ok() => (k, v),
        _ => {
            return Err(format!(
                "malformed format tag `{found}`: expected `{expected}`"
            ));
        }
    };
    if kind != K::KIND {
        Err(format!(
            "this is a `{kind}` record (`{found}`), expected a `{}` record (`{expected}`)",
            K::KIND
        ))
    } else {
        Err(format!(
            "unsupported format version `{found}` (version {version}); this build reads `{expected}`"
        ))
    }
}
