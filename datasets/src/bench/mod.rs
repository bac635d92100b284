//! Benchmark adapters: HumanEval and the MBPP layout, mapped onto
//! [`crate::records::Problem`]; plus [`BenchmarkText`], the form the
//! decontaminator indexes.

mod humaneval;
mod mbpp;

pub use humaneval::{HumanEvalTask, load_humaneval};
pub use mbpp::{MbppTask, load_mbpp};

/// A benchmark text to keep out of training data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchmarkText {
    /// Benchmark name (`humaneval`, `mbpp`).
    pub benchmark: String,
    /// Task id within the benchmark (`HumanEval/0`).
    pub task_id: String,
    /// The text: prompt and reference solution.
    pub text: String,
}
