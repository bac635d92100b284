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
            while !flag.load(Ordering::Relaxed) {
                let done = count_lines(&run.done()).unwrap_or(0) as u64;
                let (answers, passed) = answers_passed(&run.attempts());
                bar.set_position(done);
                let rate = if answers > 0 {
                    format!(", {:.0}% passing", 100.0 * passed as f64 / answers as f64)
                } else {
                    String::new()
                };
                bar.set_message(format!("problems, {answers} teacher answers{rate}"));
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

/// Teacher answers journaled in `attempts` and how many of them passed.
fn answers_passed(attempts: &Path) -> (usize, usize) {
    let Ok(text) = std::fs::read_to_string(attempts) else {
        return (0, 0);
    };
    let lines = text.lines().filter(|l| !l.trim().is_empty());
    lines.fold((0, 0), |(n, p), l| {
        (n + 1, p + usize::from(l.contains("\"status\":\"passed\"")))
    })
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
