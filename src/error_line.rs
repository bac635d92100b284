//! The one line `distill` prints for an error: its chain of causes joined by ": ",
//! without repeating a cause the message above it already quotes (library errors such
//! as `"{path}: {source}"` both show their source and return it as the cause).

/// `err` and its causes on one line, each cause once.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    let mut above = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !above.is_empty() && above.ends_with(&text) {
            above = text;
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
        above = text;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;
    use anyhow::Context;

    /// Shaped like the libraries' `#[error("{path}: {source}")]` variants.
    #[derive(Debug)]
    struct QuotesItsSource {
        path: String,
        source: std::io::Error,
    }

    impl std::fmt::Display for QuotesItsSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.path, self.source)
        }
    }

    impl std::error::Error for QuotesItsSource {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_the_message_already_quotes_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let err: anyhow::Result<()> = Err(QuotesItsSource {
            path: "run/journal.jsonl".into(),
            source: io,
        })
        .context("resuming the run");
        let line = one_line(&err.unwrap_err());
        assert_eq!(
            line,
            "resuming the run: run/journal.jsonl: No such file or directory"
        );
    }

    #[test]
    fn causes_that_are_not_quoted_are_all_shown() {
        let err = anyhow::anyhow!("disk full")
            .context("writing sft.jsonl")
            .context("synth");
        assert_eq!(one_line(&err), "synth: writing sft.jsonl: disk full");
    }
}
