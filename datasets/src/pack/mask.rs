//! The attention-mask descriptor of a packed row: sample boundaries
//! (`cu_seqlens` in flash-attention's varlen terms). Position `q` may attend
//! to position `k` iff both lie in the same sample and `k <= q`; padding
//! attends to nothing and is attended by nothing.

/// Sample boundaries of one packed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskDescriptor {
    /// Length of the row.
    pub row_len: usize,
    /// Cumulative boundaries `[0, end_0, end_1, ..., used]`; sample `i`
    /// occupies positions `boundaries[i]..boundaries[i + 1]`.
    pub boundaries: Vec<usize>,
}

impl MaskDescriptor {
    /// The sample (segment index within the row) holding position `pos`, or
    /// `None` for padding.
    pub fn segment_of(&self, pos: usize) -> Option<usize> {
        let used = *self.boundaries.last()?;
        if pos >= used {
            return None;
        }
        // Index of the last boundary <= pos.
        Some(self.boundaries.partition_point(|&b| b <= pos) - 1)
    }

    /// Whether query position `q` may attend to key position `k`.
    pub fn allows(&self, q: usize, k: usize) -> bool {
        k <= q
            && match (self.segment_of(q), self.segment_of(k)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
    }

    /// The dense `row_len × row_len` boolean mask, row-major (`[q * row_len + k]`).
    pub fn dense(&self) -> Vec<bool> {
        let n = self.row_len;
        let mut out = vec![false; n * n];
        for w in self.boundaries.windows(2) {
            for q in w[0]..w[1] {
                for k in w[0]..=q {
                    out[q * n + k] = true;
                }
            }
        }
        out
    }
}
