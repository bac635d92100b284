//! Streaming JSON Lines: readers (plain or gzip, detected by magic bytes)
//! that report each bad record as `file:line: field: reason` in strict or
//! lenient mode, and append-only writers that flush after every record.

mod lines;
mod reader;
mod writer;

pub(crate) use reader::drain;
pub use reader::{JsonlReader, Mode, Parsed, ReadOptions, ReadReport, read_all};
pub use writer::JsonlWriter;
