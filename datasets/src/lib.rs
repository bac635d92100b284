//! `distill-datasets`: the data layer of distill.
//!
//! - [`records`]: typed, versioned records (`Problem`, `Attempt`, `SftRecord`,
//!   `DpoRecord`) in TRL-compatible shapes, plus readers for TRL's own forms.
//! - [`jsonl`]: streaming JSON Lines readers (plain and `.gz`) that report every
//!   bad record as `file:line: field: reason`, and append-only writers.
//! - [`parquet_reader`]: the same typed, reported reading for Parquet files.
//! - [`bench`]: adapters from HumanEval and MBPP layouts to [`records::Problem`].
//! - [`chat`]: Hugging Face chat templates rendered with minijinja, and
//!   assistant spans by prefix rendering.
//! - [`pack`]: best-fit-decreasing packing with a block-diagonal mask
//!   descriptor, and padded batching with length bucketing.
//! - [`dedup`]: exact and MinHash/LSH near-duplicate detection, and n-gram
//!   decontamination against benchmark problems ([`decontam`]).
//! - [`tokenizer`]: GGUF metadata and byte-level BPE tokenizers rebuilt from it.
//! - [`split`]: deterministic train/eval splits by problem; [`stats`]: counts
//!   and length quantiles.

pub mod bench;
pub mod bundled;
pub mod chat;
pub mod decontam;
pub mod dedup;
pub mod error;
pub mod jsonl;
pub mod pack;
pub mod parquet_reader;
pub mod records;
pub mod rng;
pub mod split;
pub mod stats;
pub mod tokenizer;

pub use error::{BadRecord, FieldError, ReadError, WriteError};
