//! A small Python lexer for normalization: it splits code into identifiers,
//! keywords, numbers, string literals and operators, and drops whitespace,
//! indentation, line continuations and `#` comments. It never fails: odd
//! input (unterminated strings, stray characters) still yields tokens.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A name (including keywords; see [`is_keyword`]).
    Name,
    /// A numeric literal.
    Number,
    /// A string literal, quotes and prefix included.
    Str,
    /// An operator or delimiter.
    Op,
}

/// One token borrowed from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// Its kind.
    pub kind: TokenKind,
    /// Its text.
    pub text: &'a str,
}

const OPS3: [&str; 5] = ["**=", "//=", ">>=", "<<=", "..."];
const OPS2: [&str; 20] = [
    "==", "!=", "<=", ">=", "->", "**", "//", "<<", ">>", "+=", "-=", "*=", "/=", "%=", "&=", "|=",
    "^=", ":=", "@=", "<>",
];

/// Splits `code` into tokens (see the module doc).
pub fn tokenize(code: &str) -> Vec<Token<'_>> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() || c == b'\\' {
            i += 1;
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if let Some(end) = string_end(b, i) {
            out.push(tok(code, TokenKind::Str, i, end));
            i = end;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < b.len() {
                let d = b[i];
                let exp_sign = (d == b'+' || d == b'-') && matches!(b[i - 1], b'e' | b'E');
                if d.is_ascii_alphanumeric() || d == b'_' || d == b'.' || exp_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(tok(code, TokenKind::Number, start, i));
        } else if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric() || b[i] >= 0x80) {
                i += 1;
            }
            out.push(tok(code, TokenKind::Name, start, i));
        } else {
            let len = op_len(&b[i..]);
            out.push(tok(code, TokenKind::Op, i, i + len));
            i += len;
        }
    }
    out
}

fn tok(code: &str, kind: TokenKind, start: usize, end: usize) -> Token<'_> {
    // Boundaries are always at ASCII bytes or the end, so this cannot fail;
    // fall back to an empty token rather than panic.
    Token {
        kind,
        text: code.get(start..end).unwrap_or(""),
    }
}

fn op_len(rest: &[u8]) -> usize {
    if OPS3.iter().any(|o| rest.starts_with(o.as_bytes())) {
        3
    } else if OPS2.iter().any(|o| rest.starts_with(o.as_bytes())) {
        2
    } else {
        // One character (a whole UTF-8 sequence is handled as a name above).
        1
    }
}

/// If a string literal (with an optional `rbuf` prefix) starts at `i`,
/// returns the index just past it.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut q = i;
    while q < b.len() && q - i < 2 && matches!(b[q].to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f')
    {
        q += 1;
    }
    let quote = *b.get(q).filter(|c| **c == b'"' || **c == b'\'')?;
    if q > i && i > 0 && (b[i - 1] == b'_' || b[i - 1].is_ascii_alphanumeric()) {
        return None;
    }
    let triple = b.get(q + 1) == Some(&quote) && b.get(q + 2) == Some(&quote);
    let mut j = if triple { q + 3 } else { q + 1 };
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == quote => {
                if !triple {
                    return Some(j + 1);
                }
                if b.get(j + 1) == Some(&quote) && b.get(j + 2) == Some(&quote) {
                    return Some(j + 3);
                }
                j += 1;
            }
            b'\n' if !triple => return Some(j),
            _ => j += 1,
        }
    }
    Some(b.len())
}

/// Python keywords (and the soft keywords `match`/`case` are not included).
pub fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "False"
            | "None"
            | "True"
            | "and"
            | "as"
            | "assert"
            | "async"
            | "await"
            | "break"
            | "class"
            | "continue"
            | "def"
            | "del"
            | "elif"
            | "else"
            | "except"
            | "finally"
            | "for"
            | "from"
            | "global"
            | "if"
            | "import"
            | "in"
            | "is"
            | "lambda"
            | "nonlocal"
            | "not"
            | "or"
            | "pass"
            | "raise"
            | "return"
            | "try"
            | "while"
            | "with"
            | "yield"
    )
}

/// Common builtins and conventional names that carry meaning (`self`), which
/// canonicalization keeps rather than renames.
pub fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "abs"
            | "all"
            | "any"
            | "bin"
            | "bool"
            | "bytes"
            | "chr"
            | "dict"
            | "divmod"
            | "enumerate"
            | "filter"
            | "float"
            | "format"
            | "frozenset"
            | "getattr"
            | "hasattr"
            | "hash"
            | "hex"
            | "input"
            | "int"
            | "isinstance"
            | "iter"
            | "len"
            | "list"
            | "map"
            | "max"
            | "min"
            | "next"
            | "object"
            | "oct"
            | "open"
            | "ord"
            | "pow"
            | "print"
            | "range"
            | "repr"
            | "reversed"
            | "round"
            | "set"
            | "setattr"
            | "slice"
            | "sorted"
            | "str"
            | "sum"
            | "super"
            | "tuple"
            | "type"
            | "zip"
            | "self"
            | "cls"
            | "Exception"
            | "ValueError"
            | "TypeError"
            | "KeyError"
            | "IndexError"
    )
}
