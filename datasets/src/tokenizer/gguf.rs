//! Reading the metadata (key/value) section of a GGUF file, without its
//! tensors: enough to build a tokenizer and read the chat template. Works on
//! a file cut after its metadata.
//!
//! Layout (GGUF v2/v3, little-endian): magic `GGUF`, `u32` version, `u64`
//! tensor count, `u64` key/value count, then per pair a string key, a `u32`
//! type and a value. Strings are a `u64` length and UTF-8 bytes; arrays are
//! a `u32` element type, a `u64` count and the elements.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Unsigned integer (`u8`, `u16`, `u32`, `u64`).
    UInt(u64),
    /// Signed integer (`i8`, `i16`, `i32`, `i64`).
    Int(i64),
    /// Float (`f32`, `f64`).
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string.
    String(String),
    /// Array of values.
    Array(Vec<MetaValue>),
}

/// Why GGUF metadata could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// Reading the file failed (including a file cut inside its metadata).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start with `GGUF`.
    #[error("{path}: not a GGUF file (magic {magic:?})")]
    BadMagic {
        /// The file.
        path: String,
        /// The first four bytes.
        magic: [u8; 4],
    },
    /// A version this reader does not know.
    #[error("{path}: unsupported GGUF version {version} (reads 2 and 3)")]
    Version {
        /// The file.
        path: String,
        /// The version found.
        version: u32,
    },
    /// Malformed metadata: an unknown type, bad UTF-8, an absurd length.
    #[error("{path}: key `{key}`: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// The key being read.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A required key is missing or has the wrong type.
    #[error("GGUF metadata: key `{key}`: {reason}")]
    Key {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The metadata of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufMetadata {
    /// Format version.
    pub version: u32,
    /// Number of tensors the file declares.
    pub tensor_count: u64,
    /// Key/value pairs.
    pub kv: BTreeMap<String, MetaValue>,
}

/// Longest string or array this reader accepts (guards against garbage
/// lengths in a corrupt file).
const MAX_LEN: u64 = 1 << 30;

struct Cursor<'a, R> {
    r: &'a mut R,
    path: &'a str,
    key: String,
}

impl<R: Read> Cursor<'_, R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).map_err(|source| GgufError::Io {
            path: self.path.to_string(),
            source,
        })?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn malformed(&self, reason: impl Into<String>) -> GgufError {
        GgufError::Malformed {
            path: self.path.to_string(),
            key: self.key.clone(),
            reason: reason.into(),
        }
    }
    fn len(&mut self) -> Result<u64, GgufError> {
        let n = self.u64()?;
        if n > MAX_LEN {
            return Err(self.malformed(format!("length {n} is implausibly large")));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String, GgufError> {
        let n = self.len()?;
        let mut buf = vec![0u8; n as usize];
        self.r
            .read_exact(&mut buf)
            .map_err(|source| GgufError::Io {
                path: self.path.to_string(),
                source,
            })?;
        String::from_utf8(buf).map_err(|e| self.malformed(format!("invalid UTF-8: {e}")))
    }
    fn value(&mut self, ty: u32) -> Result<MetaValue, GgufError> {
        Ok(match ty {
            0 => MetaValue::UInt(u64::from(u8::from_le_bytes(self.bytes()?))),
            1 => MetaValue::Int(i64::from(i8::from_le_bytes(self.bytes()?))),
            2 => MetaValue::UInt(u64::from(u16::from_le_bytes(self.bytes()?))),
            3 => MetaValue::Int(i64::from(i16::from_le_bytes(self.bytes()?))),
            4 => MetaValue::UInt(u64::from(self.u32()?)),
            5 => MetaValue::Int(i64::from(i32::from_le_bytes(self.bytes()?))),
            6 => MetaValue::Float(f64::from(f32::from_le_bytes(self.bytes()?))),
            7 => MetaValue::Bool(u8::from_le_bytes(self.bytes()?) != 0),
            8 => MetaValue::String(self.string()?),
            9 => {
                let elem = self.u32()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1 << 20) as usize);
                for _ in 0..n {
                    items.push(self.value(elem)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::UInt(self.u64()?),
            11 => MetaValue::Int(i64::from_le_bytes(self.bytes()?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.bytes()?)),
            other => return Err(self.malformed(format!("unknown value type {other}"))),
        })
    }
}

impl GgufMetadata {
    /// Reads the metadata of the GGUF file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| GgufError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_reader(&mut BufReader::with_capacity(1 << 20, file), &name)
    }

    /// Reads metadata from any byte source; `name` is used in errors.
    pub fn from_reader<R: Read>(r: &mut R, name: &str) -> Result<Self, GgufError> {
        let mut c = Cursor {
            r,
            path: name,
            key: String::new(),
        };
        let magic: [u8; 4] = c.bytes()?;
        if &magic != b"GGUF" {
            return Err(GgufError::BadMagic {
                path: name.to_string(),
                magic,
            });
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version {
                path: name.to_string(),
                version,
            });
        }
        let tensor_count = c.u64()?;
        let kv_count = c.u64()?;
        let mut kv = BTreeMap::new();
        for _ in 0..kv_count {
            c.key = String::from("<key>");
            let key = c.string()?;
            c.key = key.clone();
            let ty = c.u32()?;
            let value = c.value(ty)?;
            kv.insert(key, value);
        }
        Ok(Self {
            version,
            tensor_count,
            kv,
        })
    }

    fn key_err(key: &str, reason: &str) -> GgufError {
        GgufError::Key {
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A string value.
    pub fn str(&self, key: &str) -> Result<&str, GgufError> {
        match self.kv.get(key) {
            Some(MetaValue::String(s)) => Ok(s),
            Some(_) => Err(Self::key_err(key, "not a string")),
            None => Err(Self::key_err(key, "missing")),
        }
    }

    /// An unsigned integer value (also accepts non-negative signed ones).
    pub fn uint(&self, key: &str) -> Result<u64, GgufError> {
        match self.kv.get(key) {
            Some(MetaValue::UInt(v)) => Ok(*v),
            Some(MetaValue::Int(v)) if *v >= 0 => Ok(*v as u64),
            Some(_) => Err(Self::key_err(key, "not an unsigned integer")),
            None => Err(Self::key_err(key, "missing")),
        }
    }

    /// A boolean value.
    pub fn bool(&self, key: &str) -> Result<bool, GgufError> {
        match self.kv.get(key) {
            Some(MetaValue::Bool(v)) => Ok(*v),
            Some(_) => Err(Self::key_err(key, "not a boolean")),
            None => Err(Self::key_err(key, "missing")),
        }
    }

    /// An array of strings.
    pub fn strings(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        match self.kv.get(key) {
            Some(MetaValue::Array(items)) => items
                .iter()
                .map(|v| match v {
                    MetaValue::String(s) => Ok(s.as_str()),
                    _ => Err(Self::key_err(key, "array element is not a string")),
                })
                .collect(),
            Some(_) => Err(Self::key_err(key, "not an array")),
            None => Err(Self::key_err(key, "missing")),
        }
    }

    /// An array of integers.
    pub fn ints(&self, key: &str) -> Result<Vec<i64>, GgufError> {
        match self.kv.get(key) {
            Some(MetaValue::Array(items)) => items
                .iter()
                .map(|v| match v {
                    MetaValue::Int(i) => Ok(*i),
                    MetaValue::UInt(u) => i64::try_from(*u)
                        .map_err(|_| Self::key_err(key, "array element out of range")),
                    _ => Err(Self::key_err(key, "array element is not an integer")),
                })
                .collect(),
            Some(_) => Err(Self::key_err(key, "not an array")),
            None => Err(Self::key_err(key, "missing")),
        }
    }
}
