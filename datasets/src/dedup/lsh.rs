//! Locality-sensitive hashing over MinHash signatures: the signature is cut
//! into `bands` bands of `rows` entries; two signatures become candidates
//! when any band is identical. For Jaccard similarity `s` the candidate
//! probability is `1 - (1 - s^rows)^bands`.
//!
//! Each band table maps a band key to the newest item with that key, and a
//! per-table `next` array chains older items, so inserting allocates nothing
//! per bucket.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// A hasher for keys that are already xxh3 hashes: it passes them through.
#[derive(Debug, Default, Clone, Copy)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Table = HashMap<u64, u32, BuildHasherDefault<Prehashed>>;

const NONE: u32 = u32::MAX;

/// An LSH index of signatures by item number (items numbered 0, 1, 2, ...
/// in insertion order).
#[derive(Debug, Clone, Default)]
pub struct LshIndex {
    bands: usize,
    rows: usize,
    heads: Vec<Table>,
    next: Vec<Vec<u32>>,
}

impl LshIndex {
    /// An empty index for signatures of `bands * rows` entries.
    pub fn new(bands: usize, rows: usize) -> Self {
        Self {
            bands,
            rows,
            heads: vec![Table::default(); bands],
            next: vec![Vec::new(); bands],
        }
    }

    /// Number of items inserted.
    pub fn len(&self) -> usize {
        self.next.first().map_or(0, Vec::len)
    }

    /// Whether no item was inserted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn band_keys<'a>(&'a self, sig: &'a [u64]) -> impl Iterator<Item = u64> + 'a {
        sig.chunks(self.rows.max(1)).take(self.bands).map(|band| {
            // Hash the band's entries as little-endian bytes without allocating.
            let mut key = 0u64;
            for chunk in band.chunks(8) {
                let mut bytes = [0u8; 64];
                for (dst, v) in bytes.chunks_exact_mut(8).zip(chunk) {
                    dst.copy_from_slice(&v.to_le_bytes());
                }
                key = xxh3_64_with_seed(&bytes[..chunk.len() * 8], key);
            }
            key
        })
    }

    /// Adds the next item (numbered [`LshIndex::len`]) with signature `sig`.
    pub fn insert(&mut self, sig: &[u64]) -> u32 {
        let id = self.len() as u32;
        let keys: Vec<u64> = self.band_keys(sig).collect();
        for ((head, next), key) in self.heads.iter_mut().zip(&mut self.next).zip(keys) {
            let prev = head.insert(key, id).unwrap_or(NONE);
            next.push(prev);
        }
        id
    }

    /// Items sharing at least one band with `sig`, each once, ascending.
    pub fn candidates(&self, sig: &[u64]) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for ((head, next), key) in self.heads.iter().zip(&self.next).zip(self.band_keys(sig)) {
            let mut at = head.get(&key).copied().unwrap_or(NONE);
            while at != NONE {
                out.push(at);
                at = next.get(at as usize).copied().unwrap_or(NONE);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
