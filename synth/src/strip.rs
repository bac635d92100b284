//! Stripping an answer's own demo code before its tests run: only its top-level
//! imports, function and class definitions (with decorators) and assignments are
//! kept, as EvalPlus does for chat models. Small models often append example calls
//! or self-tests with wrong expected values; those must not decide the verdict.
//!
//! The filtering uses Python's own parser, inside the sandbox: [`STRIP_PROGRAM`] reads
//! the code on stdin and prints the kept source lines as one JSON string. An answer
//! cut off by the token limit is cut back to its longest prefix that parses, ending
//! where a top-level statement begins, so a complete function before a truncated
//! self-test still counts.

/// Reads Python source on stdin, prints the kept top-level statements (their source
/// lines, decorators included, separated by blank lines) as a JSON string. Exits with
/// an error on a syntax error.
pub const STRIP_PROGRAM: &str = r#"import ast, json, sys


def parse_longest_prefix(src):
    # An answer cut off by the token limit ends in a broken statement: fall back to
    # the longest prefix that ends where a top-level statement begins and parses.
    try:
        return src, ast.parse(src)
    except SyntaxError:
        pass
    lines = src.splitlines()
    for cut in range(len(lines) - 1, 0, -1):
        if lines[cut] and not lines[cut][0].isspace():
            head = "\n".join(lines[:cut])
            try:
                return head, ast.parse(head)
            except SyntaxError:
                continue
    raise SyntaxError("no prefix of the answer parses")


src, tree = parse_longest_prefix(sys.stdin.read())
keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
        ast.ClassDef, ast.Assign, ast.AnnAssign)
lines = src.splitlines()
parts = []
for node in tree.body:
    if isinstance(node, keep):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        parts.append("\n".join(lines[start - 1:node.end_lineno]))
sys.stdout.write(json.dumps("\n\n".join(parts) + "\n" if parts else ""))
"#;
