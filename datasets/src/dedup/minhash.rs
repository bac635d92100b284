//! MinHash signatures over token shingles.
//!
//! Each of the `num_perm` hash functions is `h(x) = a * x + b (mod 2^64)` with
//! random odd `a` (a bijection of `u64`, the multiply-add family datasketch
//! uses modulo a prime), applied to the xxh3 hash of each shingle; a
//! signature holds the minimum per function.
//! The fraction of equal entries in two signatures estimates the Jaccard
//! similarity of their shingle sets (standard error `sqrt(J(1-J)/num_perm)`).

use xxhash_rust::xxh3::xxh3_64;

use crate::rng::SplitMix64;

/// Computes MinHash signatures with a fixed family of hash functions.
#[derive(Debug, Clone)]
pub struct MinHasher {
    mul: Vec<u64>,
    add: Vec<u64>,
    shingle: usize,
}

impl MinHasher {
    /// `num_perm` hash functions drawn from `seed`, over shingles of
    /// `shingle` consecutive tokens (at least 1).
    pub fn new(num_perm: usize, shingle: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut mul = Vec::with_capacity(num_perm);
        let mut add = Vec::with_capacity(num_perm);
        for _ in 0..num_perm {
            mul.push(rng.next_u64() | 1);
            add.push(rng.next_u64());
        }
        Self {
            mul,
            add,
            shingle: shingle.max(1),
        }
    }

    /// Number of hash functions (signature length).
    pub fn num_perm(&self) -> usize {
        self.mul.len()
    }

    /// Hashes of the shingles of a token-hash stream; a stream shorter than
    /// the shingle size is one shingle; an empty stream has none.
    pub fn shingles(&self, tokens: &[u64]) -> Vec<u64> {
        if tokens.is_empty() {
            return Vec::new();
        }
        let k = self.shingle.min(tokens.len());
        let mut out: Vec<u64> = tokens
            .windows(k)
            .map(|w| {
                let mut bytes = [0u8; 8 * 16];
                let n = w.len().min(16);
                for (j, t) in w.iter().take(n).enumerate() {
                    bytes[j * 8..j * 8 + 8].copy_from_slice(&t.to_le_bytes());
                }
                xxh3_64(&bytes[..n * 8])
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The signature of a set of shingle hashes (all `u64::MAX` when empty).
    pub fn signature(&self, shingles: &[u64]) -> Vec<u64> {
        let mut sig = vec![u64::MAX; self.mul.len()];
        for &s in shingles {
            for ((m, &a), &b) in sig.iter_mut().zip(&self.mul).zip(&self.add) {
                *m = (*m).min(a.wrapping_mul(s).wrapping_add(b));
            }
        }
        sig
    }
}

/// Estimated Jaccard similarity: the fraction of equal signature entries.
pub fn estimate_jaccard(a: &[u64], b: &[u64]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / n as f64
}
