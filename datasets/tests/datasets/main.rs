//! Integration tests of `distill-datasets`, one binary with a module per area.

mod adapters;
mod chat;
mod dedup;
mod jsonl;
mod mask;
mod packing;
mod parquet;
mod records;
mod split_stats;
mod tokenizer;

/// A fresh temporary directory per test.
pub fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temp dir: {e}"),
    }
}
