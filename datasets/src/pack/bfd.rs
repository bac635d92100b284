//! Best-fit-decreasing bin packing of sample lengths into rows of `row_len`.

use std::collections::BTreeSet;

/// Why samples could not be packed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The row length is zero.
    #[error("row length must be positive")]
    ZeroRowLen,
    /// A sample is longer than a row (truncate or drop it first).
    #[error("sample {sample} has {len} tokens, more than the row length {row_len}")]
    TooLong {
        /// Index of the sample.
        sample: usize,
        /// Its length.
        len: usize,
        /// The row length.
        row_len: usize,
    },
    /// A sample has no tokens.
    #[error("sample {sample} is empty")]
    Empty {
        /// Index of the sample.
        sample: usize,
    },
    /// A sample's loss mask and token ids differ in length.
    #[error("sample {sample}: {ids} token ids but {mask} loss-mask entries")]
    MaskLength {
        /// Index of the sample.
        sample: usize,
        /// Number of token ids.
        ids: usize,
        /// Number of mask entries.
        mask: usize,
    },
}

/// One sample's place in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Index of the sample in the input.
    pub sample: usize,
    /// First position of the sample in the row.
    pub offset: usize,
    /// Number of tokens.
    pub len: usize,
}

/// One packed row: its segments in position order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    /// Segments, contiguous from position 0.
    pub segments: Vec<Segment>,
}

impl Row {
    /// Positions used by samples; the rest of the row is padding.
    pub fn used(&self) -> usize {
        self.segments.last().map_or(0, |s| s.offset + s.len)
    }
}

/// The result of packing: every sample appears in exactly one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packing {
    /// Length of every row.
    pub row_len: usize,
    /// The rows, in creation order.
    pub rows: Vec<Row>,
}

impl Packing {
    /// Fraction of row positions holding real tokens.
    pub fn efficiency(&self) -> f64 {
        let used: usize = self.rows.iter().map(Row::used).sum();
        let total = self.rows.len() * self.row_len;
        if total == 0 {
            0.0
        } else {
            used as f64 / total as f64
        }
    }
}

/// Packs samples of the given lengths, longest first, each into the open
/// row with the least room that still fits it (ties: the oldest row);
/// a new row is opened when none fits. Ties between equal lengths keep input
/// order, so the result is deterministic.
pub fn pack_best_fit(lengths: &[usize], row_len: usize) -> Result<Packing, PackError> {
    if row_len == 0 {
        return Err(PackError::ZeroRowLen);
    }
    for (sample, &len) in lengths.iter().enumerate() {
        if len == 0 {
            return Err(PackError::Empty { sample });
        }
        if len > row_len {
            return Err(PackError::TooLong {
                sample,
                len,
                row_len,
            });
        }
    }
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then(a.cmp(&b)));

    let mut rows: Vec<Row> = Vec::new();
    // (remaining room, row index) for every row that still has room.
    let mut open: BTreeSet<(usize, usize)> = BTreeSet::new();
    for sample in order {
        let len = lengths[sample];
        let slot = open.range((len, 0)..).next().copied();
        let row = match slot {
            Some(key) => {
                open.remove(&key);
                key.1
            }
            None => {
                rows.push(Row::default());
                rows.len() - 1
            }
        };
        let offset = rows[row].used();
        rows[row].segments.push(Segment {
            sample,
            offset,
            len,
        });
        let room = row_len - offset - len;
        if room > 0 {
            open.insert((room, row));
        }
    }
    Ok(Packing { row_len, rows })
}
