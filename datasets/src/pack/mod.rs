//! Turning tokenized samples into training rows.
//!
//! - [`pack_best_fit`]: best-fit-decreasing packing into fixed-length rows;
//!   [`PackedRow`] carries position ids that restart per sample and a
//!   [`MaskDescriptor`] (per-row sample boundaries) that defines a
//!   block-diagonal causal mask, so packed samples cannot attend to each other.
//! - [`bucket_batches`] + [`pad_batch`]: plain padded batching with length
//!   bucketing.

mod batch;
mod bfd;
mod mask;
mod rows;

pub use batch::{BucketOptions, PadSide, PaddedBatch, bucket_batches, pad_batch};
pub use bfd::{PackError, Packing, Row, Segment, pack_best_fit};
pub use mask::MaskDescriptor;
pub use rows::{IGNORE_INDEX, PackedRow, TokenizedSample, build_rows};
