//! Sanitizing an answer before its tests run, as EvalPlus does for chat models:
//! only the answer's top-level imports, function and class definitions and
//! assignments are kept; its own demo code (calls, prints, asserts, `if __name__ ==
//! "__main__":` blocks, loops) is dropped, so a model's wrong self-test or a stray
//! `input()` does not decide the verdict — the benchmark's tests do.
//!
//! The filtering runs inside the sandbox with Python's own parser: the program is a
//! short prelude that parses the code (embedded as a string literal), keeps the
//! allowed top-level nodes, and `exec`s them in the module's namespace, followed by
//! the benchmark's tests. Syntax errors are caught before, by the checker's compile
//! gate on the unsanitized code, so they are still classified as `syntax`.

/// The top-level statement kinds that survive sanitizing (Python `ast` classes).
pub const KEPT_NODES: [&str; 7] = [
    "Import",
    "ImportFrom",
    "FunctionDef",
    "AsyncFunctionDef",
    "ClassDef",
    "Assign",
    "AnnAssign",
];

/// The program that runs only the kept top-level statements of `code` (compiled
/// as `main.py`, so tracebacks keep the answer's line numbers).
pub fn sanitized(code: &str) -> String {
    // A JSON string is a valid Python string literal (serde_json emits only
    // escapes Python shares: \" \\ \n \r \t \b \f \uXXXX).
    let literal = serde_json::Value::String(code.to_string()).to_string();
    let kinds: Vec<String> = KEPT_NODES
        .iter()
        .map(|k| format!("_distill_ast.{k}"))
        .collect();
    format!(
        "import ast as _distill_ast\n\
         _distill_tree = _distill_ast.parse({literal}, 'main.py')\n\
         _distill_tree.body = [_n for _n in _distill_tree.body if isinstance(_n, ({}))]\n\
         exec(compile(_distill_tree, 'main.py', 'exec'))\n\
         del _distill_ast, _distill_tree\n",
        kinds.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_code_as_one_literal() {
        let p = sanitized("def f():\n    return \"a\\\\b\"\nprint(f())\n");
        assert!(
            p.contains(
                r#"_distill_ast.parse("def f():\n    return \"a\\\\b\"\nprint(f())\n", 'main.py')"#
            ),
            "{p}"
        );
        assert!(p.contains("_distill_ast.AsyncFunctionDef"));
        assert_eq!(p.lines().count(), 5);
    }
}
