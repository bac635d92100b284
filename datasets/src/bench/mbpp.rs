//! The MBPP layout: `task_id`, `text`, `code`, `test_list`, `test_setup_code`
//! (and `challenge_test_list`, ignored).
//!
//! Mapping to [`Problem`]: `id = "mbpp/<task_id>"`, `source = "mbpp"`,
//! `test_type = assert`;
//! `prompt = text + "\nYour code should pass these tests:\n\n" + test_list
//! joined by "\n"` (the prompt format of the MBPP paper, which shows the tests
//! so the function name and signature are known);
//! `tests = test_setup_code + "\n" + test_list joined by "\n" + "\n"` (setup
//! omitted when empty); `entry_point` = the name called by the first test
//! (`assert name(`); `meta.reference_code = code`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::BenchmarkText;
use crate::error::{FieldError, ReadError};
use crate::jsonl::{JsonlReader, ReadOptions};
use crate::records::{Format, JsonRecord, Problem, TestType, parse_record};

/// One task in the MBPP layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MbppTask {
    /// Numeric task id.
    pub task_id: u64,
    /// The problem statement.
    pub text: String,
    /// Reference solution.
    pub code: String,
    /// Assert statements.
    pub test_list: Vec<String>,
    /// Code run before the tests (imports); often empty.
    #[serde(default)]
    pub test_setup_code: String,
}

impl JsonRecord for MbppTask {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let t: Self = parse_record(text)?;
        if t.test_list.is_empty() {
            return Err(FieldError::new(
                "test_list",
                "must hold at least one assert",
            ));
        }
        Ok(t)
    }
}

impl MbppTask {
    /// The task as a [`Problem`] (see the module doc for the mapping).
    pub fn to_problem(&self) -> Problem {
        let asserts = self.test_list.join("\n");
        let tests = if self.test_setup_code.trim().is_empty() {
            format!("{asserts}\n")
        } else {
            format!("{}\n{asserts}\n", self.test_setup_code)
        };
        let mut meta = Map::new();
        meta.insert("reference_code".into(), Value::String(self.code.clone()));
        Problem {
            format: Format::new(),
            id: format!("mbpp/{}", self.task_id),
            prompt: format!(
                "{}\nYour code should pass these tests:\n\n{asserts}",
                self.text
            ),
            tests,
            entry_point: self.test_list.first().and_then(|t| called_name(t)),
            test_type: TestType::Assert,
            cases: None,
            source: Some("mbpp".into()),
            meta: Some(meta),
        }
    }

    /// Statement plus reference code, for decontamination.
    pub fn to_benchmark_text(&self) -> BenchmarkText {
        BenchmarkText {
            benchmark: "mbpp".into(),
            task_id: format!("mbpp/{}", self.task_id),
            text: format!("{}\n{}", self.text, self.code),
        }
    }
}

/// The function a test calls first: `assert  name (` → `name`.
fn called_name(test: &str) -> Option<String> {
    let rest = test.trim_start().strip_prefix("assert")?.trim_start();
    let rest = rest.strip_prefix("not ").unwrap_or(rest).trim_start();
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    let after = rest[name.len()..].trim_start();
    (!name.is_empty() && after.starts_with('(')).then_some(name)
}

/// Reads a JSONL file in the MBPP layout (plain or gzip), strictly.
pub fn load_mbpp(path: impl AsRef<Path>) -> Result<Vec<MbppTask>, ReadError> {
    JsonlReader::<MbppTask>::open(path, ReadOptions::default())?
        .map(|r| r.map(|p| p.record))
        .collect()
}
