//! Typed, versioned records. Field names follow DESIGN.md "Records" and TRL's
//! conversational (`messages`) and preference (`prompt`/`chosen`/`rejected`)
//! shapes; every record carries a `format` tag such as `"sft.v1"`.
//!
//! Parsing goes through [`JsonRecord`], which reports the failing field path
//! (`messages[2].role: unknown variant ...`) and runs semantic checks.

mod attempt;
mod checks;
mod dpo;
mod format;
mod message;
mod parse;
mod problem;
mod provenance;
mod sft;
mod trl;

pub use attempt::{Attempt, Outcome, Status, Teacher, Usage};
pub use dpo::DpoRecord;
pub use format::{AttemptKind, DpoKind, Format, ProblemKind, RecordKind, SftKind};
pub use message::{Message, Role};
pub use parse::{JsonRecord, parse_record, parse_typed, parse_value};
pub use problem::{Case, Problem, TestType};
pub use provenance::{AttemptSummary, Provenance, RuntimeInfo};
pub use sft::SftRecord;
pub use trl::{DpoExample, SftExample};
