//! Benchmarks an eval can run on, by name, and their problems from the setup cache.
//!
//! `humaneval`: the 164 HumanEval tasks (`HumanEval.jsonl.gz`, installed by
//! `distill setup`), mapped onto [`Problem`] by `datasets::bench` (the tests are the
//! task's `check(candidate)` called on its entry point).

use super::EvalError;
use datasets::bench::load_humaneval;
use datasets::records::Problem;
use sandbox::artifacts::{ArtifactStore, HUMANEVAL};
use std::path::Path;

/// A benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bench {
    /// OpenAI's HumanEval (Chen et al. 2021), 164 function-completion tasks.
    HumanEval,
}

impl Bench {
    /// Every benchmark this version knows.
    pub const ALL: [Bench; 1] = [Bench::HumanEval];

    /// The benchmark called `name` (case-insensitive); an unknown name is an error
    /// that lists the known ones.
    pub fn parse(name: &str) -> Result<Bench, EvalError> {
        Bench::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| EvalError::UnknownBench {
                name: name.to_string(),
                known: Bench::ALL.map(Bench::name).join(", "),
            })
    }

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Bench::HumanEval => "humaneval",
        }
    }

    /// The benchmark's problems from the installed cache, in benchmark order.
    pub fn load(self, store: &ArtifactStore) -> Result<Vec<Problem>, EvalError> {
        match self {
            Bench::HumanEval => {
                let path = store
                    .file(&HUMANEVAL)
                    .map_err(|e| EvalError::BenchMissing {
                        bench: self.name().into(),
                        reason: e.to_string(),
                    })?;
                self.load_file(&path)
            }
        }
    }

    /// The benchmark's problems from a given file (`HumanEval.jsonl[.gz]`).
    pub fn load_file(self, path: &Path) -> Result<Vec<Problem>, EvalError> {
        match self {
            Bench::HumanEval => Ok(load_humaneval(path)?
                .iter()
                .map(|t| t.to_problem())
                .collect()),
        }
    }
}

impl std::fmt::Display for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_list_the_known() {
        assert_eq!(Bench::parse("humaneval").ok(), Some(Bench::HumanEval));
        assert_eq!(Bench::parse("HumanEval").ok(), Some(Bench::HumanEval));
        let err = Bench::parse("mbpp+").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown benchmark `mbpp+`; known benchmarks: humaneval")
        );
    }
}
