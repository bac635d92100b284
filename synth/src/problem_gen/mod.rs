//! `distill synth problems`: problem generation from seed snippets (Llama 3 /
//! OSS-Instruct style).
//!
//! Each seed snippet ([`seeds`]) goes to the teacher with a versioned prompt
//! ([`prompt`]) asking for a statement, a function name, a reference solution and
//! assert-style tests; the answer is read ([`parse`]) and filtered in the sandbox
//! ([`filter`]: the tests compile, the reference passes them, a `pass` stub fails
//! them); the survivors are near-deduplicated on their prompt text and written as
//! `problem.v1` records with a report ([`run`]).

pub mod filter;
pub mod parse;
pub mod prompt;
pub mod run;
pub mod seeds;

pub use filter::Rejection;
pub use parse::{Candidate, ParseError, parse_answer};
pub use prompt::PROMPT_VERSION;
pub use run::{
    ProblemGenOptions, ProblemGenReport, RejectedAnswer, generate_problems, report_path,
    write_outputs,
};
pub use seeds::{Seed, read_seeds};
