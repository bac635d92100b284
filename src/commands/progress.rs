//! Progress shown by long commands: a bar over a synth run directory's journals
//! (problems done, answers, live pass rate; polled, so the library needs no
//! callback), and line counts of JSON Lines files.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A progress bar over a synth run directory's journals (`done.jsonl` lines are
/// finished problems, `attempts.jsonl` lines teacher answers), polled once a second
/// so the library needs no callback.
pub struct JournalWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JournalWatch {
    /// Starts polling `dir` every half second, out of `problems` problems.
    pub fn start(dir: &Path, problems: u64) -> JournalWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let run = synth::run::RunPaths::new(dir);
        let thread = std::thread::spawn(move || {
            let bar = progress_bar();
            bar.set_length(problems);
            let mut done = LineTally::default();
            let mut answers = LineTally::default();
            while !flag.load(Ordering::Relaxed) {
                done.update(&run.done());
                answers.update(&run.attempts());
                bar.set_position(done.lines as u64);
                let rate = if answers.lines > 0 {
                    let pct = 100.0 * answers.passed as f64 / answers.lines as f64;
                    format!(", {pct:.0}% passing")
                } else {
                    String::new()
                };
                bar.set_message(format!("problems, {} teacher answers{rate}", answers.lines));
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            bar.finish_and_clear();
        });
        JournalWatch {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops polling and clears the bar.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Complete lines of an append-only journal and how many of them record a passed
/// answer, read incrementally: each poll reads only the bytes appended since the last.
#[derive(Debug, Default)]
struct LineTally {
    offset: u64,
    partial: Vec<u8>,
    lines: usize,
    passed: usize,
}

impl LineTally {
    fn update(&mut self, path: &Path) {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(path) else {
            return;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut fresh = Vec::new();
        let Ok(n) = file.read_to_end(&mut fresh) else {
            return;
        };
        self.offset += n as u64;
        self.partial.extend_from_slice(&fresh);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        for line in self.partial[..end].split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.lines += 1;
            let text = String::from_utf8_lossy(line);
            self.passed += usize::from(text.contains("\"status\":\"passed\""));
        }
        self.partial.drain(..=end);
    }
}

/// A bar with position, length, message and ETA.
pub fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("  {bar:30} {pos}/{len} {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Non-empty lines of `path` (0 when it does not exist).
pub fn count_lines(path: &Path) -> anyhow::Result<usize> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().filter(|l| !l.trim().is_empty()).count()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::LineTally;
    use std::io::Write;

    #[test]
    fn tally_reads_only_appended_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attempts.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        let mut t = LineTally::default();
        t.update(&path);
        assert_eq!((t.lines, t.passed), (0, 0));
        // two whole lines (one passed) and half of a third
        write!(
            f,
            "{{\"status\":\"passed\"}}\n{{\"status\":\"failed\"}}\n{{\"sta"
        )
        .unwrap();
        t.update(&path);
        assert_eq!((t.lines, t.passed), (2, 1));
        // the third line completes, a blank line is skipped
        write!(f, "tus\":\"passed\"}}\n\n").unwrap();
        t.update(&path);
        assert_eq!((t.lines, t.passed), (3, 2));
        // nothing new: nothing changes
        t.update(&path);
        assert_eq!((t.lines, t.passed), (3, 2));
    }
}
