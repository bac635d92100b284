//! Reading a teacher's answer to the [`super::prompt`]: the four labelled sections
//! (`[PROBLEM]`, `[ENTRY_POINT]`, `[SOLUTION]`, `[TESTS]`), the code of the fenced
//! blocks, and the reference's `def` line for the trivial stub.
//!
//! Tolerated: Markdown decoration around a label (`## [PROBLEM]`, `**[TESTS]**`), a
//! trailing colon, labels without brackets (`ENTRY POINT:`), text after a label on its
//! line, sections in any order, and code without a fence. Labels inside fenced code
//! are not labels.

/// One section label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Problem,
    EntryPoint,
    Solution,
    Tests,
}

impl Label {
    const ALL: [Label; 4] = [
        Label::Problem,
        Label::EntryPoint,
        Label::Solution,
        Label::Tests,
    ];

    fn name(self) -> &'static str {
        match self {
            Label::Problem => "[PROBLEM]",
            Label::EntryPoint => "[ENTRY_POINT]",
            Label::Solution => "[SOLUTION]",
            Label::Tests => "[TESTS]",
        }
    }

    /// Spellings accepted at the start of a (decoration-stripped, upper-cased) line.
    fn spellings(self) -> &'static [&'static str] {
        match self {
            Label::Problem => &["[PROBLEM]", "PROBLEM:", "PROBLEM"],
            Label::EntryPoint => &[
                "[ENTRY_POINT]",
                "[ENTRY POINT]",
                "ENTRY_POINT:",
                "ENTRY POINT:",
                "ENTRY_POINT",
                "ENTRY POINT",
            ],
            Label::Solution => &["[SOLUTION]", "SOLUTION:", "SOLUTION"],
            Label::Tests => &["[TESTS]", "TESTS:", "TESTS"],
        }
    }
}

/// Why an answer could not be read as a problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A section label was not found.
    #[error("no {0} section")]
    MissingSection(&'static str),
    /// A section holds nothing.
    #[error("the {0} section is empty")]
    EmptySection(&'static str),
    /// The entry point is not a Python identifier.
    #[error("the entry point `{0}` is not a Python function name")]
    BadEntryPoint(String),
    /// The reference solution has no top-level `def` of the entry point.
    #[error("the solution does not define `{0}` at top level")]
    NoDefinition(String),
}

/// A generated problem as the teacher wrote it, before any check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The problem statement.
    pub statement: String,
    /// The function under test.
    pub entry_point: String,
    /// The reference solution's code.
    pub reference: String,
    /// Assert-style test code.
    pub tests: String,
    /// The reference's `def` line(s) of the entry point, up to and including the `:`.
    pub signature: String,
    /// The reference's top-level import lines (the stub needs them for annotations).
    pub imports: String,
}

impl Candidate {
    /// The trivial stub: the reference's imports, then the entry point's signature
    /// with the body `pass`.
    pub fn stub(&self) -> String {
        let mut out = self.imports.clone();
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&self.signature);
        out.push_str("\n    pass\n");
        out
    }

    /// The prompt of the `Problem` record: the statement, then the signature to use.
    pub fn prompt(&self) -> String {
        let sig = self.signature.trim_end().trim_end_matches(':');
        format!(
            "{}\n\nWrite a Python function with this signature:\n```python\n{sig}\n```",
            self.statement.trim_end()
        )
    }
}

/// Parses a teacher's answer.
pub fn parse_answer(text: &str) -> Result<Candidate, ParseError> {
    let sections = split_sections(text);
    let get = |label: Label| -> Result<&str, ParseError> {
        let body = sections
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, body)| body.as_str())
            .ok_or(ParseError::MissingSection(label.name()))?;
        if body.trim().is_empty() {
            return Err(ParseError::EmptySection(label.name()));
        }
        Ok(body)
    };
    let statement = get(Label::Problem)?.trim().to_string();
    let entry_point = entry_point(get(Label::EntryPoint)?)?;
    let reference = code_of(get(Label::Solution)?);
    if reference.trim().is_empty() {
        return Err(ParseError::EmptySection(Label::Solution.name()));
    }
    let tests = code_of(get(Label::Tests)?);
    if tests.trim().is_empty() {
        return Err(ParseError::EmptySection(Label::Tests.name()));
    }
    let signature = signature(&reference, &entry_point)
        .ok_or_else(|| ParseError::NoDefinition(entry_point.clone()))?;
    let imports = imports(&reference);
    Ok(Candidate {
        statement,
        entry_point,
        reference,
        tests,
        signature,
        imports,
    })
}

fn is_fence(line: &str) -> bool {
    line.trim_start().starts_with("```")
}

/// The label a line starts with, and the rest of the line.
fn label_of(line: &str) -> Option<(Label, String)> {
    let stripped = line
        .trim()
        .trim_start_matches(['#', '*', ' ', '\t'])
        .trim_end_matches(['*', ' ', '\t']);
    let upper = stripped.to_ascii_uppercase();
    for label in Label::ALL {
        for spelling in label.spellings() {
            if let Some(rest) = upper.strip_prefix(spelling) {
                // "PROBLEMS" or "TESTS_FOR" are not labels: the spelling must end a word.
                if rest
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    continue;
                }
                // A bare word (`Tests`) is a label only alone on its line.
                let bare = !spelling.starts_with('[') && !spelling.ends_with(':');
                if bare && !rest.trim().is_empty() {
                    continue;
                }
                let rest = stripped[spelling.len()..]
                    .trim_start_matches([':', '*', ' ', '\t'])
                    .to_string();
                return Some((label, rest));
            }
        }
    }
    None
}

/// The sections of `text` in order of appearance (first occurrence of each label).
fn split_sections(text: &str) -> Vec<(Label, String)> {
    let mut sections: Vec<(Label, String)> = Vec::new();
    let mut current: Option<usize> = None;
    let mut in_fence = false;
    for line in text.lines() {
        if !in_fence && let Some((label, rest)) = label_of(line) {
            if sections.iter().any(|(l, _)| *l == label) {
                current = None; // a repeated label: ignore its body
            } else {
                let body = if rest.is_empty() {
                    String::new()
                } else {
                    format!("{rest}\n")
                };
                sections.push((label, body));
                current = Some(sections.len() - 1);
            }
            continue;
        }
        if is_fence(line) {
            in_fence = !in_fence;
        }
        if let Some(i) = current {
            sections[i].1.push_str(line);
            sections[i].1.push('\n');
        }
    }
    sections
}

/// The code of a section: its first fenced block, or the whole section when it has
/// no fence (an unclosed fence runs to the end of the section).
fn code_of(section: &str) -> String {
    let mut lines = section.lines();
    let mut found = false;
    let mut out = String::new();
    for line in lines.by_ref() {
        if is_fence(line) {
            found = true;
            break;
        }
    }
    if !found {
        return section.trim_matches('\n').to_string() + "\n";
    }
    for line in lines {
        if is_fence(line) {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The function name in the entry-point section: its first word, without backticks,
/// a `def ` or a trailing `()`.
fn entry_point(section: &str) -> Result<String, ParseError> {
    let first = section
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("```"))
        .unwrap_or("");
    let word = first
        .trim_matches('`')
        .trim_start_matches("def ")
        .split(['(', ' ', ':', '`'])
        .next()
        .unwrap_or("")
        .trim();
    let mut chars = word.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(word.to_string())
    } else {
        Err(ParseError::BadEntryPoint(first.to_string()))
    }
}

/// Net open brackets on a line (strings are not special-cased: good enough for a
/// signature).
fn depth_change(line: &str) -> i64 {
    line.chars()
        .map(|c| match c {
            '(' | '[' | '{' => 1,
            ')' | ']' | '}' => -1,
            _ => 0,
        })
        .sum()
}

/// The top-level `def name(...)...:` of `code`, possibly over several lines.
pub fn signature(code: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = code.lines().collect();
    let start = lines.iter().position(|l| {
        let rest = l.strip_prefix("async ").unwrap_or(l);
        rest.strip_prefix("def ")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix(name))
            .is_some_and(|r| r.trim_start().starts_with('('))
    })?;
    let mut depth = 0;
    let mut out = Vec::new();
    for line in &lines[start..] {
        depth += depth_change(line);
        out.push(line.trim_end());
        if depth <= 0 && line.trim_end().ends_with(':') {
            return Some(out.join("\n"));
        }
    }
    None
}

/// The top-level `import`/`from` statements of `code` (bracketed continuations kept).
pub fn imports(code: &str) -> String {
    let mut out = Vec::new();
    let mut depth = 0;
    for line in code.lines() {
        if depth > 0 {
            out.push(line);
            depth += depth_change(line);
            continue;
        }
        if line.starts_with("import ") || line.starts_with("from ") {
            out.push(line);
            depth = depth_change(line).max(0);
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Here you go.\n\n[PROBLEM]\nReturn the sum of the squares of a list.\n\n[ENTRY_POINT]\nsum_squares\n[SOLUTION]\n```python\nfrom typing import List\n\ndef sum_squares(xs: List[int]) -> int:\n    return sum(x * x for x in xs)\n```\n[TESTS]\n```python\nassert sum_squares([1, 2]) == 5\nassert sum_squares([]) == 0\n```\nThanks!";

    #[test]
    fn a_well_formed_answer() -> Result<(), ParseError> {
        let c = parse_answer(GOOD)?;
        assert_eq!(c.statement, "Return the sum of the squares of a list.");
        assert_eq!(c.entry_point, "sum_squares");
        assert_eq!(
            c.reference,
            "from typing import List\n\ndef sum_squares(xs: List[int]) -> int:\n    return sum(x * x for x in xs)\n"
        );
        assert_eq!(
            c.tests,
            "assert sum_squares([1, 2]) == 5\nassert sum_squares([]) == 0\n"
        );
        assert_eq!(c.signature, "def sum_squares(xs: List[int]) -> int:");
        assert_eq!(
            c.stub(),
            "from typing import List\ndef sum_squares(xs: List[int]) -> int:\n    pass\n"
        );
        assert!(
            c.prompt()
                .ends_with("```python\ndef sum_squares(xs: List[int]) -> int\n```")
        );
        Ok(())
    }

    #[test]
    fn decorated_labels_inline_names_and_unfenced_code() -> Result<(), ParseError> {
        let text = "## **Problem:** Reverse a string.\n**Entry point:** `rev()`\n### [SOLUTION]\ndef rev(\n    s,\n):\n    return s[::-1]\n### [TESTS]\nassert rev('ab') == 'ba'\n";
        let c = parse_answer(text)?;
        assert_eq!(c.statement, "Reverse a string.");
        assert_eq!(c.entry_point, "rev");
        assert_eq!(c.signature, "def rev(\n    s,\n):");
        assert_eq!(c.tests, "assert rev('ab') == 'ba'\n");
        assert_eq!(c.stub(), "def rev(\n    s,\n):\n    pass\n");
        Ok(())
    }

    #[test]
    fn labels_inside_code_are_code() -> Result<(), ParseError> {
        let text = "[PROBLEM]\nP\n[ENTRY_POINT]\nf\n[SOLUTION]\n```python\ndef f():\n    return '''\n[TESTS]\n'''\n```\n[TESTS]\n```\nassert f()\n```\n";
        let c = parse_answer(text)?;
        assert_eq!(c.reference, "def f():\n    return '''\n[TESTS]\n'''\n");
        assert_eq!(c.tests, "assert f()\n");
        Ok(())
    }

    #[test]
    fn malformed_answers_are_typed_errors() {
        assert_eq!(
            parse_answer("I cannot help with that."),
            Err(ParseError::MissingSection("[PROBLEM]"))
        );
        assert_eq!(
            parse_answer(
                "[PROBLEM]\nP\n[ENTRY_POINT]\nf\n[SOLUTION]\n```python\ndef f(): return 1\n```\n"
            ),
            Err(ParseError::MissingSection("[TESTS]"))
        );
        assert_eq!(
            parse_answer("[PROBLEM]\n\n[ENTRY_POINT]\nf\n[SOLUTION]\nx\n[TESTS]\ny\n"),
            Err(ParseError::EmptySection("[PROBLEM]"))
        );
        assert_eq!(
            parse_answer("[PROBLEM]\nP\n[ENTRY_POINT]\n2fast\n[SOLUTION]\nx\n[TESTS]\ny\n"),
            Err(ParseError::BadEntryPoint("2fast".into()))
        );
        // `def ff` and a nested `def f` are not the top-level definition of `f`.
        assert_eq!(
            parse_answer(
                "[PROBLEM]\nP\n[ENTRY_POINT]\nf\n[SOLUTION]\ndef ff():\n    def f():\n        pass\n[TESTS]\nassert f()\n"
            ),
            Err(ParseError::NoDefinition("f".into()))
        );
    }
}
