//! Code extraction: the program inside the teacher's fenced code block.

/// Why no code could be taken from an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The answer has no fenced code block at all.
    #[error("the answer contains no fenced ```python code block")]
    NoBlock,
    /// The only fenced blocks are empty.
    #[error("the answer's code block is empty")]
    Empty,
}

/// The code of the answer: the first ```` ```python ```` (or `py`, `python3`) block;
/// failing that, the first untagged block; blocks tagged with another language are
/// ignored. An unterminated final block runs to the end of the answer.
pub fn extract_code(answer: &str) -> Result<String, ExtractError> {
    let blocks = fenced_blocks(answer);
    let pick = blocks
        .iter()
        .find(|(lang, _)| matches!(lang.as_str(), "python" | "py" | "python3"))
        .or_else(|| blocks.iter().find(|(lang, _)| lang.is_empty()));
    match pick {
        None => Err(ExtractError::NoBlock),
        Some((_, code)) if code.trim().is_empty() => Err(ExtractError::Empty),
        Some((_, code)) => Ok(code.clone()),
    }
}

/// All fenced blocks as (lower-case language tag, body).
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String, usize)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let fence_len = trimmed.chars().take_while(|&c| c == '`').count();
        match current.as_mut() {
            None if fence_len >= 3 => {
                let lang = trimmed[fence_len..].trim().to_ascii_lowercase();
                let lang = lang.split_whitespace().next().unwrap_or("").to_string();
                current = Some((lang, String::new(), fence_len));
            }
            None => {}
            Some((_, _, open)) if fence_len >= *open && trimmed[fence_len..].trim().is_empty() => {
                if let Some((lang, body, _)) = current.take() {
                    blocks.push((lang, body));
                }
            }
            Some((_, body, _)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    if let Some((lang, body, _)) = current {
        blocks.push((lang, body));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_python_block() {
        let a = "Here:\n```text\nnot code\n```\n```python\ndef f():\n    return 1\n```\nDone.";
        assert_eq!(extract_code(a), Ok("def f():\n    return 1\n".into()));
    }

    #[test]
    fn falls_back_to_an_untagged_block_and_unterminated_blocks() {
        assert_eq!(extract_code("```\nx = 1\n```"), Ok("x = 1\n".into()));
        assert_eq!(extract_code("```py\nx = 2"), Ok("x = 2\n".into()));
    }

    #[test]
    fn reports_missing_and_empty_blocks() {
        assert_eq!(
            extract_code("just prose, no code"),
            Err(ExtractError::NoBlock)
        );
        assert_eq!(
            extract_code("```rust\nfn main() {}\n```"),
            Err(ExtractError::NoBlock)
        );
        assert_eq!(extract_code("```python\n\n```"), Err(ExtractError::Empty));
    }
}
