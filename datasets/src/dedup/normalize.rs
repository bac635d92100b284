//! Normal forms of code for deduplication.
//!
//! - [`exact_key`]: a 128-bit hash of the token stream, so whitespace,
//!   indentation, line breaks and `#` comments do not matter but every name,
//!   literal and operator does.
//! - [`canonical_tokens`]: the token stream with every local name replaced by
//!   one placeholder, so renamed variables give the same stream. Keywords,
//!   common builtins, attribute names (after `.`) and imported names are
//!   kept, as are all literals. A single placeholder (rather than numbering
//!   names by first appearance) keeps one inserted or deleted statement from
//!   renumbering every later name, which would defeat near-duplicate search.

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::lex::{TokenKind, is_builtin, is_keyword, tokenize};

/// Whitespace- and comment-insensitive hash of `code`.
pub fn exact_key(code: &str) -> u128 {
    analyze(code, false).0
}

/// The 64-bit hashes of the canonical token stream of `code` (see the module
/// doc); with `rename` false, names are kept as written.
pub fn canonical_tokens(code: &str, rename: bool) -> Vec<u64> {
    analyze(code, rename).1
}

/// Both normal forms in one pass over the tokens: the exact key and the
/// canonical token hashes.
pub fn analyze(code: &str, rename: bool) -> (u128, Vec<u64>) {
    // The placeholder hashes to a value no real token text produces (NUL prefix).
    let placeholder = xxh3_64(b"\x00ID");
    let mut exact = Xxh3::new();
    let tokens = tokenize(code);
    let mut out = Vec::with_capacity(tokens.len());
    let mut prev: Option<&str> = None;
    for t in &tokens {
        exact.update(t.text.as_bytes());
        exact.update(b"\x01");
        let keep = !rename
            || t.kind != TokenKind::Name
            || is_keyword(t.text)
            || is_builtin(t.text)
            || matches!(prev, Some(".") | Some("import") | Some("from"));
        out.push(if keep {
            xxh3_64(t.text.as_bytes())
        } else {
            placeholder
        });
        prev = Some(t.text);
    }
    (exact.digest128(), out)
}

/// Code found in a chat answer: the contents of its fenced code blocks
/// (```` ```python ```` or bare ```` ``` ````) joined by newlines, or the whole
/// text when it has none.
pub fn extract_code(text: &str) -> String {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let body = &after[body_start..];
        match body.find("```") {
            Some(end) => {
                blocks.push(&body[..end]);
                rest = &body[end + 3..];
            }
            None => {
                blocks.push(body);
                break;
            }
        }
    }
    if blocks.is_empty() {
        text.to_string()
    } else {
        blocks.join("\n")
    }
}
