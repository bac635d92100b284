//! `report.json` and the printed summary: how many problems, how often the first
//! answer passed, how often after each feedback turn, why answers failed, tokens and
//! time.

use crate::check::VerdictClass;
use datasets::records::Attempt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A problem found broken before the teacher was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadProblem {
    /// Its id.
    pub id: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The contents of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Problems in the input.
    pub problems: u64,
    /// Problems finished (all needed samples run), bad ones excluded.
    pub finished: u64,
    /// Problems not finished (the teacher kept failing); a re-run retries them.
    pub unfinished: u64,
    /// Problems whose own tests are broken.
    pub bad_problems: Vec<BadProblem>,
    /// Finished problems with at least one passing sample.
    pub accepted_problems: u64,
    /// Samples run on finished problems.
    pub samples: u64,
    /// Teacher answers on finished problems.
    pub attempts: u64,
    /// Fraction of samples whose first answer passed.
    pub first_try_pass_rate: f64,
    /// Entry `k`: fraction of samples passed after at most `k` feedback turns.
    pub pass_rate_after_turn: Vec<f64>,
    /// Failed answers by class (`no_code`, `syntax`, `failed`, `error`, `timeout`,
    /// `memory`, `output_limit`).
    pub failure_classes: BTreeMap<String, u64>,
    /// Records in `sft.jsonl`.
    pub sft_records: u64,
    /// Records in `dpo.jsonl`.
    pub dpo_records: u64,
    /// Prompt tokens over all journaled answers.
    pub tokens_in: u64,
    /// Completion tokens over all journaled answers.
    pub tokens_out: u64,
    /// Teacher calls made by this invocation (cache misses).
    pub teacher_calls: u64,
    /// Teacher calls answered from the cache by this invocation.
    pub cache_hits: u64,
    /// Problems this invocation left unfinished because the teacher kept failing.
    pub teacher_errors: u64,
    /// Problems finished by this invocation.
    pub finished_now: u64,
    /// Wall time of this invocation in seconds.
    pub wall_time_s: f64,
    /// `finished_now / wall_time_s`.
    pub problems_per_s: f64,
}

/// Per-sample and per-answer statistics of finished problems.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub samples: u64,
    pub attempts: u64,
    /// Samples passed at turn k, by k.
    pub passed_at: BTreeMap<u32, u64>,
    pub failure_classes: BTreeMap<String, u64>,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

impl Tally {
    /// Adds one problem's attempts, sorted by (sample, turn) without duplicates.
    pub(crate) fn add(&mut self, attempts: &[Attempt]) {
        let mut last_sample = None;
        for a in attempts {
            if last_sample != Some(a.sample) {
                self.samples += 1;
                last_sample = Some(a.sample);
            }
            self.attempts += 1;
            if let Some(u) = &a.usage {
                self.tokens_in += u.prompt_tokens;
                self.tokens_out += u.completion_tokens;
            }
            match VerdictClass::of_record(a.outcome.status, a.code.is_some()) {
                VerdictClass::Passed => *self.passed_at.entry(a.turn).or_default() += 1,
                other => {
                    *self
                        .failure_classes
                        .entry(other.as_str().into())
                        .or_default() += 1
                }
            }
        }
    }

    /// Pass rates after 0..=max_feedback turns.
    pub(crate) fn pass_rates(&self, max_feedback: u32) -> Vec<f64> {
        let mut cumulative = 0;
        (0..=max_feedback)
            .map(|k| {
                cumulative += self.passed_at.get(&k).copied().unwrap_or(0);
                ratio(cumulative, self.samples)
            })
            .collect()
    }
}

/// `a / b`, 0 when `b` is 0.
pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Report {
    /// The human-readable summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let rates: Vec<String> = self
            .pass_rate_after_turn
            .iter()
            .enumerate()
            .map(|(k, r)| format!("{k}: {:.1}%", r * 100.0))
            .collect();
        let fails: Vec<String> = self
            .failure_classes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let mut s = format!(
            "problems {} (finished {}, unfinished {}, bad {}), accepted {}\n\
             samples {}, answers {}, first-try pass rate {:.1}%\n\
             pass rate after feedback turns: {}\n\
             failures: {}\n\
             sft records {}, dpo pairs {}\n\
             tokens in {}, out {}; teacher calls {} (cache hits {})\n\
             wall time {:.1} s, {:.2} problems/s\n",
            self.problems,
            self.finished,
            self.unfinished,
            self.bad_problems.len(),
            self.accepted_problems,
            self.samples,
            self.attempts,
            self.first_try_pass_rate * 100.0,
            rates.join(", "),
            if fails.is_empty() {
                "none".into()
            } else {
                fails.join(", ")
            },
            self.sft_records,
            self.dpo_records,
            self.tokens_in,
            self.tokens_out,
            self.teacher_calls,
            self.cache_hits,
            self.wall_time_s,
            self.problems_per_s,
        );
        for bad in &self.bad_problems {
            s.push_str(&format!("bad problem {}: {}\n", bad.id, bad.reason));
        }
        s
    }
}
