//! The versioned prompt template: the system message, the first user message built
//! from a problem, and the feedback message built from a failed check.
//!
//! Changing any text here changes what the teacher sees, so it must come with a new
//! [`TEMPLATE_VERSION`] (which is part of the run fingerprint and of every record's
//! provenance).

use crate::check::Verdict;
use datasets::records::{Message, Problem, TestType};

/// Version of the prompt template below.
pub const TEMPLATE_VERSION: &str = "synth-prompt.v2";

/// The system message.
pub const SYSTEM: &str = "You are an expert Python programmer. Answer with exactly one \
complete, self-contained Python program in a single ```python fenced code block. \
Do not include tests, example usage or explanations.";

/// Most characters of stderr/traceback quoted back in a feedback message.
pub const FEEDBACK_TAIL_CHARS: usize = 1500;

/// The clean conversation for a problem: system message and the problem statement.
pub fn initial_messages(problem: &Problem) -> Vec<Message> {
    let how = match problem.test_type {
        TestType::Assert => match &problem.entry_point {
            Some(name) => format!(
                "Write the complete solution, including `{name}` with exactly that name. \
                 It will be checked by hidden assert-based tests."
            ),
            None => "Write the complete solution. It will be checked by hidden \
                     assert-based tests."
                .to_string(),
        },
        TestType::Stdio => "Write a program that reads the input from standard input \
                            and prints the answer to standard output."
            .to_string(),
    };
    vec![
        Message::system(SYSTEM),
        Message::user(format!(
            "{}\n\n{how}\nAnswer with one ```python code block.",
            problem.prompt.trim_end()
        )),
    ]
}

/// The user message sent after a failed check.
pub fn feedback_message(verdict: &Verdict) -> Message {
    let mut text = format!(
        "Your answer did not pass: {}.\n{}",
        verdict.class.describe(),
        verdict.detail
    );
    let tail = last_chars(&verdict.stderr, FEEDBACK_TAIL_CHARS);
    if !tail.trim().is_empty() {
        text.push_str("\n\nError output (truncated):\n```\n");
        text.push_str(tail.trim_end());
        text.push_str("\n```");
    }
    text.push_str("\n\nFix the problem and answer again with one complete ```python code block.");
    Message::user(text)
}

/// The last `n` characters of `text`, prefixed with `...` when cut.
pub fn last_chars(text: &str, n: usize) -> String {
    let count = text.chars().count();
    if count <= n {
        return text.to_string();
    }
    let tail: String = text.chars().skip(count - n).collect();
    format!("...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_chars_cuts_from_the_front() {
        assert_eq!(last_chars("abcdef", 3), "...def");
        assert_eq!(last_chars("abc", 3), "abc");
    }

    #[test]
    fn initial_messages_name_the_entry_point() {
        let mut p = Problem::assert_style("p", "Add two numbers.", "assert add(1, 2) == 3");
        p.entry_point = Some("add".into());
        let m = initial_messages(&p);
        assert_eq!(m.len(), 2);
        assert!(m[1].content.starts_with("Add two numbers.\n\n"));
        assert!(m[1].content.contains("`add`"));
    }
}
