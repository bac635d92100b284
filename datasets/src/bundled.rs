//! The bundled training problem set: original Python problems written for
//! `distill demo` (and usable as any `distill synth --problems` file), kept
//! disjoint from HumanEval (the evaluation benchmark).
//!
//! The set lives in `datasets/problems/bundled.jsonl` and is compiled into the
//! crate with `include_str!`. Each line is a `problem.v1` record
//! ([`Problem`]):
//! - `id`: `bundled/<slug>`; `source`: `"bundled"`.
//! - `test_type: "assert"`: `prompt` names the function (or class) given in
//!   `entry_point`, with its signature and one or two examples; `tests` holds
//!   plain `assert` statements run after the solution.
//! - `test_type: "stdio"`: the solution is a program reading stdin; `cases`
//!   holds 2–4 `{input, output}` pairs, compared line by line up to trailing
//!   whitespace; `tests` is empty.
//! - `meta`: `difficulty` (`easy` | `medium` | `hard`), `topic`, and
//!   `reference`: a full reference solution (synth's preflight runs it).
//!
//! The lines are in a fixed shuffled order, so any prefix of the file (the
//! demo takes the first N) mixes topics, difficulties and test types.
//!
//! Adding a problem: append one line with a new unique slug, a prompt that
//! states the signature and an example without giving the solution away, tests
//! that a stub returning `None` (or printing nothing) fails, and a reference
//! that uses only the standard-library modules the sandbox pre-imports
//! (`sandbox/guest/app.py`). Then run
//! `cargo test --release -p distill-synth --test synth bundled`: it runs every
//! reference and stub in the sandbox and checks the set against HumanEval
//! (13-gram decontamination) and against itself (near-duplicate search).

use std::io::{BufRead, Cursor};

use crate::error::ReadError;
use crate::jsonl::{JsonlReader, ReadOptions};
use crate::records::Problem;

/// Name of the set, as used in `Problem::source` and in reports.
pub const BUNDLED_PROBLEMS_NAME: &str = "bundled";

/// Where the set lives in the source tree (used in error messages as
/// `file:line: field: reason`).
pub const BUNDLED_PROBLEMS_PATH: &str = "datasets/problems/bundled.jsonl";

/// The raw JSONL text of the set, as compiled in (e.g. to write it out as a
/// `--problems` file).
pub const BUNDLED_PROBLEMS_JSONL: &str = include_str!("../problems/bundled.jsonl");

/// Every bundled problem, in file order, parsed and validated by the same
/// strict reader as any other problem file: a bad record is reported as
/// `datasets/problems/bundled.jsonl:LINE: FIELD: reason`.
pub fn problems() -> Result<Vec<Problem>, ReadError> {
    read(BUNDLED_PROBLEMS_JSONL)
}

/// Strictly reads `text` as the bundled file.
fn read(text: &str) -> Result<Vec<Problem>, ReadError> {
    let src: Box<dyn BufRead + Send> = Box::new(Cursor::new(text.as_bytes().to_vec()));
    JsonlReader::<Problem>::from_reader(BUNDLED_PROBLEMS_PATH, src, ReadOptions::default())
        .map(|parsed| parsed.map(|p| p.record))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::TestType;

    #[test]
    fn the_embedded_set_parses_and_is_tagged() -> Result<(), ReadError> {
        let all = problems()?;
        assert!(all.len() >= 150, "{} problems", all.len());
        for p in &all {
            assert!(p.id.starts_with("bundled/"), "{}", p.id);
            assert_eq!(p.source.as_deref(), Some(BUNDLED_PROBLEMS_NAME), "{}", p.id);
            if p.test_type == TestType::Assert {
                assert!(p.entry_point.is_some(), "{} has no entry point", p.id);
            }
        }
        Ok(())
    }

    #[test]
    fn a_bad_edit_names_file_line_and_field() {
        let good = r#"{"format": "problem.v1", "id": "bundled/a", "prompt": "p", "tests": "assert f() == 1", "entry_point": "f", "test_type": "assert"}"#;
        let bad = r#"{"format": "problem.v1", "id": "bundled/b", "prompt": "p", "tests": "", "test_type": "stdio"}"#;
        match read(&format!("{good}\n{bad}\n")) {
            Err(ReadError::Record(bad)) => {
                assert_eq!((bad.file.as_str(), bad.line), (BUNDLED_PROBLEMS_PATH, 2));
                assert_eq!(bad.field, "cases");
            }
            other => panic!("expected a bad record on line 2, got {other:?}"),
        }
    }
}
