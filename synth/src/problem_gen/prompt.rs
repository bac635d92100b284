//! The versioned prompt that asks the teacher to turn a seed snippet into a problem
//! (OSS-Instruct style): a statement, a function name, a reference solution and
//! assert-style tests, in four labelled sections that [`super::parse`] reads.

use datasets::records::Message;

/// Version of the prompt below; recorded in every generated problem's `meta`.
pub const PROMPT_VERSION: &str = "problem-gen-prompt.v1";

/// The system message.
pub const SYSTEM: &str = "You are an expert Python programmer who writes clear, \
self-contained programming exercises with correct solutions and thorough tests.";

/// The answer format the teacher is asked for, verbatim.
pub const FORMAT: &str = "[PROBLEM]
<the problem statement: what the function must do, its inputs and its output>
[ENTRY_POINT]
<the function name only>
[SOLUTION]
```python
<a correct reference solution defining the function, with any imports it needs>
```
[TESTS]
```python
<assert statements that call the function, e.g. assert f(1) == 2>
```";

/// The conversation asking for one problem inspired by `code`.
pub fn messages(code: &str) -> Vec<Message> {
    let user = format!(
        "Here is a code snippet for inspiration:\n```\n{}\n```\n\n\
         Write a new, self-contained Python programming problem inspired by it, \
         solvable by one function. Answer with exactly these four sections, in this \
         order, and nothing else:\n\n{FORMAT}\n\n\
         The tests must be plain `assert` statements (at least three) that pass on \
         your solution and fail on a function that does nothing.",
        code.trim_end()
    );
    vec![Message::system(SYSTEM), Message::user(user)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snippet_and_the_format_are_in_the_user_message() {
        let m = messages("def f(x):\n    return x\n\n");
        assert_eq!(m.len(), 2);
        let user = &m[1].content;
        assert!(user.contains("```\ndef f(x):\n    return x\n```"), "{user}");
        for label in ["[PROBLEM]", "[ENTRY_POINT]", "[SOLUTION]", "[TESTS]"] {
            assert!(user.contains(label), "{label}");
        }
    }
}
