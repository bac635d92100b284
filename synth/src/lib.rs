//! `distill-synth`: verified synthetic training data from a teacher model, the
//! Llama 3.1 execution-feedback recipe.
//!
//! For each problem and sample the teacher answers ([`teacher`]), the code is taken
//! from its fenced block ([`extract`]), compiled and tested in the sandbox
//! ([`check`]); a failure goes back to the teacher as feedback ([`prompt`]) for up to
//! `max_feedback` more turns. Everything is journaled in a resumable run directory
//! ([`run`]), from which `sft.jsonl`, `dpo.jsonl` and `report.json` are built
//! ([`outputs`], [`report`]). Entry point: [`run_synth`]. [`cross_pairs`] pairs one
//! run's verified answers with another run's failures (on-policy rejections).

pub mod bench;
pub mod check;
pub mod cross_pairs;
mod error;
pub mod eval;
pub mod extract;
pub mod options;
pub mod outputs;
pub mod problem_gen;
mod problem_loop;
pub mod prompt;
pub mod report;
pub mod run;
pub mod strip;
mod synth;
pub mod teacher;

pub use bench::{SynthBench, bench_synth};
pub use check::{Checker, Verdict, VerdictClass};
pub use error::{SynthError, TeacherError};
pub use eval::{EvalError, EvalOptions, EvalSummary, run_eval};
pub use options::{DpoRejected, SftDialogue, SynthOptions};
pub use report::Report;
pub use synth::{load_problems, run_synth};
pub use teacher::local::LocalTeacher;
pub use teacher::openai::{OpenAiConfig, OpenAiTeacher};
pub use teacher::{ChatRequest, Completion, RetryPolicy, SamplingParams, Teacher};
