//! The seeds file: JSON Lines of code snippets, each `{"id"?: str, "code": str}` or
//! `{"id"?: str, "snippet": str}`, read with the datasets crate's JSONL reader so a
//! bad line is reported as `file:line: field: reason`.

use datasets::error::{BadRecord, FieldError, ReadError};
use datasets::jsonl::{JsonlReader, ReadOptions, ReadReport};
use datasets::records::{JsonRecord, parse_record};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// One seed snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The seed's id: its `id` field, or its 1-based line number in the file.
    pub id: String,
    /// The code snippet (from `code` or `snippet`).
    pub code: String,
}

/// A seeds line as written; other fields are ignored.
#[derive(Debug, Deserialize)]
struct SeedLine {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    snippet: Option<String>,
}

impl JsonRecord for SeedLine {
    fn from_json_str(text: &str) -> Result<Self, FieldError> {
        let line: SeedLine = parse_record(text)?;
        match (&line.code, &line.snippet) {
            (Some(_), Some(_)) => Err(FieldError::new(
                "code",
                "give either `code` or `snippet`, not both",
            )),
            (None, None) => Err(FieldError::new(
                "code",
                "required field is missing (or `snippet`)",
            )),
            (Some(c), None) | (None, Some(c)) if c.trim().is_empty() => Err(FieldError::new(
                if line.code.is_some() {
                    "code"
                } else {
                    "snippet"
                },
                "must not be empty",
            )),
            _ if line.id.as_deref().is_some_and(|id| id.trim().is_empty()) => {
                Err(FieldError::new("id", "must not be empty"))
            }
            _ => Ok(line),
        }
    }
}

/// Reads the seeds in `path`. Strict: the first bad line is the error; lenient: bad
/// lines (including a repeated id) are skipped and listed in the report.
pub fn read_seeds(path: &Path, lenient: bool) -> Result<(Vec<Seed>, ReadReport), ReadError> {
    let opts = if lenient {
        ReadOptions::lenient()
    } else {
        ReadOptions::default()
    };
    let mut reader = JsonlReader::<SeedLine>::open(path, opts)?;
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut seeds = Vec::new();
    let mut duplicates = Vec::new();
    for item in reader.by_ref() {
        let parsed = item?;
        let line = parsed.line;
        let record = parsed.record;
        let id = record.id.unwrap_or_else(|| line.to_string());
        if let Some(first) = first_line.get(&id) {
            let bad = BadRecord::at(
                path.display().to_string(),
                line,
                FieldError::new(
                    "id",
                    format!("duplicate seed id `{id}` (first on line {first})"),
                ),
            );
            if !lenient {
                return Err(ReadError::Record(bad));
            }
            duplicates.push(bad);
            continue;
        }
        first_line.insert(id.clone(), line);
        let code = record.code.or(record.snippet).unwrap_or_default();
        seeds.push(Seed { id, code });
    }
    let mut report = reader.into_report();
    report.records -= duplicates.len() as u64;
    report.bad.extend(duplicates);
    report.bad.sort_by_key(|b| b.line);
    Ok((seeds, report))
}
