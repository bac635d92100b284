//! Preference pairs across two runs: a verified answer from one run's `sft.jsonl` (the
//! teacher's) as `chosen`, a failing answer of another run's journal on the same
//! problem (typically the student's own samples, i.e. on-policy rejections) as
//! `rejected`. Both runs must have asked with the same prompt; a problem whose prompts
//! differ is reported and left out, never paired.

use crate::SynthError;
use crate::options::DpoRejected;
use crate::outputs::{class, formatted_answer, may_be_rejected};
use crate::run::RunPaths;
use crate::run::config::RunConfig;
use crate::run::journal::read_attempts;
use datasets::records::{Attempt, DpoRecord, Message, Role, SftRecord};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// How answers of the two runs are paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossPairOptions {
    /// Most pairs per problem (`None`: as many as both sides allow).
    pub per_problem: Option<usize>,
    /// Which failed answers of the rejected run may be `rejected`.
    pub rejected: DpoRejected,
    /// Whether the rejected run stripped demo code; its answers are then the checked
    /// code in a fenced block, as that run's own `dpo.jsonl` would hold them.
    pub strip_demo_code: bool,
}

/// A verified answer offered as `chosen`, with the line it was read from.
#[derive(Debug, Clone)]
pub struct ChosenAnswer {
    /// 1-based line in the chosen file.
    pub line: u64,
    /// The record: a dialogue ending with the passing answer.
    pub record: SftRecord,
}

/// A chosen record that could not be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedChosen {
    /// 1-based line in the chosen file.
    pub line: u64,
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// What pairing found, besides the pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrossPairReport {
    /// Problems that gave at least one pair.
    pub problems_paired: usize,
    /// Problems with a chosen answer but no eligible failure in the rejected run.
    pub no_rejected: usize,
    /// Problems with eligible failures but no chosen answer.
    pub no_chosen: usize,
    /// Candidate pairs dropped because both answers were the same text.
    pub identical: usize,
    /// Problems whose prompt differs between the two runs (ids, in chosen-file order).
    pub prompt_mismatch: Vec<String>,
    /// Chosen records that could not be used.
    pub skipped: Vec<SkippedChosen>,
}

/// Pairs and the report of [`cross_pairs`].
#[derive(Debug, Clone)]
pub struct CrossPairs {
    /// The pairs, grouped by problem in chosen-file order.
    pub pairs: Vec<DpoRecord>,
    /// What else was found.
    pub report: CrossPairReport,
}

/// The rejected side: a synth run directory's journal and how its answers are written.
#[derive(Debug, Clone)]
pub struct RejectedRun {
    /// Every journaled attempt.
    pub attempts: Vec<Attempt>,
    /// The run's model, from its `config.json`.
    pub model: String,
    /// Whether the run stripped demo code (from its `config.json`).
    pub strip_demo_code: bool,
}

/// Reads a synth run directory (finished or not) for its failed answers.
pub fn read_rejected_run(dir: &Path) -> Result<RejectedRun, SynthError> {
    let paths = RunPaths::new(dir);
    let config_path = paths.config();
    let bytes = match std::fs::read(&config_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SynthError::Corrupt {
                path: dir.to_path_buf(),
                reason: "not a synth run directory (it has no config.json)".into(),
            });
        }
        Err(e) => return Err(SynthError::io(&config_path, e)),
    };
    let config: RunConfig = serde_json::from_slice(&bytes).map_err(|e| SynthError::Corrupt {
        path: config_path.clone(),
        reason: format!("not a synth run config: {e}"),
    })?;
    let setting = |key: &str| {
        config.settings.get(key).ok_or_else(|| SynthError::Corrupt {
            path: config_path.clone(),
            reason: format!("settings.{key}: missing"),
        })
    };
    let model = setting("model")?.as_str().unwrap_or_default().to_string();
    let strip_demo_code = setting("strip_demo_code")?.as_bool().unwrap_or(false);
    Ok(RejectedRun {
        attempts: read_attempts(&paths.attempts())?,
        model,
        strip_demo_code,
    })
}

/// Pairs each problem's chosen answers (in file order) with its eligible failed
/// attempts from the other run (in (sample, turn) order): the i-th with the i-th, up to
/// [`CrossPairOptions::per_problem`]. The prompt is the chosen dialogue up to its first
/// user message, the chosen answer its last message; the attempt's conversation must
/// start with exactly that prompt.
pub fn cross_pairs(
    chosen: &[ChosenAnswer],
    attempts: &[Attempt],
    options: CrossPairOptions,
) -> CrossPairs {
    let mut report = CrossPairReport::default();
    let mut order: Vec<&str> = Vec::new();
    let mut by_problem: HashMap<&str, Vec<&ChosenAnswer>> = HashMap::new();
    for answer in chosen {
        match chosen_problem(answer) {
            Ok(id) => {
                let entry = by_problem.entry(id).or_default();
                if entry.is_empty() {
                    order.push(id);
                }
                entry.push(answer);
            }
            Err(skip) => report.skipped.push(skip),
        }
    }
    let failures = eligible_failures(attempts, options.rejected);
    report.no_chosen = failures
        .keys()
        .filter(|id| !by_problem.contains_key(*id))
        .count();

    let mut pairs = Vec::new();
    for id in order {
        let Some(bad) = failures.get(id) else {
            report.no_rejected += 1;
            continue;
        };
        let goods = &by_problem[id];
        let made_before = pairs.len();
        let limit = options.per_problem.unwrap_or(usize::MAX);
        for (good, bad) in goods.iter().zip(bad.iter()) {
            if pairs.len() - made_before == limit {
                break;
            }
            let messages = &good.record.messages;
            let prompt = &messages[..prompt_len(messages)];
            if bad.messages.get(..prompt.len()) != Some(prompt) {
                report.prompt_mismatch.push(id.to_string());
                break;
            }
            let chosen_text = messages[messages.len() - 1].content.clone();
            let rejected_text = formatted_answer(bad, options.strip_demo_code);
            if chosen_text == rejected_text {
                report.identical += 1;
                continue;
            }
            pairs.push(pair(good, bad, prompt.to_vec(), chosen_text, rejected_text));
        }
        if pairs.len() > made_before {
            report.problems_paired += 1;
        }
    }
    CrossPairs { pairs, report }
}

/// Length of a chosen dialogue's prompt: up to its first user message (the problem),
/// so a dialogue that kept its feedback turns is paired on the clean prompt, as a
/// run's own `dpo.jsonl` is.
fn prompt_len(messages: &[Message]) -> usize {
    messages
        .iter()
        .position(|m| m.role == Role::User)
        .map_or(messages.len() - 1, |i| i + 1)
}

/// The problem id of a chosen record, or why it cannot be a chosen answer.
fn chosen_problem(answer: &ChosenAnswer) -> Result<&str, SkippedChosen> {
    let skip = |field, reason: &str| SkippedChosen {
        line: answer.line,
        field,
        reason: reason.into(),
    };
    let id = match answer.record.meta.problem_id.as_deref() {
        Some(id) if !id.trim().is_empty() => id,
        _ => {
            return Err(skip(
                "meta.problem_id",
                "missing: pairs are matched by problem",
            ));
        }
    };
    match answer.record.messages.last() {
        Some(last) if last.role == Role::Assistant && answer.record.messages.len() >= 2 => Ok(id),
        _ => Err(skip(
            "messages",
            "must be a prompt followed by the assistant's answer",
        )),
    }
}

/// Each problem's failed attempts that may be rejected, in (sample, turn) order, one
/// per (sample, turn) (the last journal line wins, as in the run's own outputs).
fn eligible_failures(attempts: &[Attempt], rule: DpoRejected) -> HashMap<&str, Vec<&Attempt>> {
    let mut unique: BTreeMap<(&str, u32, u32), &Attempt> = BTreeMap::new();
    for attempt in attempts {
        unique.insert(
            (attempt.problem_id.as_str(), attempt.sample, attempt.turn),
            attempt,
        );
    }
    let mut out: HashMap<&str, Vec<&Attempt>> = HashMap::new();
    for ((id, _, _), attempt) in unique {
        let eligible = may_be_rejected(attempt, rule);
        if eligible {
            out.entry(id).or_default().push(attempt);
        }
    }
    out
}

fn pair(
    good: &ChosenAnswer,
    bad: &Attempt,
    prompt: Vec<Message>,
    chosen_text: String,
    rejected_text: String,
) -> DpoRecord {
    let mut record = DpoRecord::new(
        prompt,
        vec![Message::assistant(chosen_text)],
        vec![Message::assistant(rejected_text)],
    );
    // The chosen record's provenance (its problem, teacher and attempts) stays as it
    // was; where each side came from is added under `chosen` and `rejected`.
    let mut meta = good.record.meta.clone();
    let mut chosen_from = std::mem::take(&mut meta.extra);
    chosen_from.insert("line".into(), json!(good.line));
    meta.extra
        .insert("chosen".into(), serde_json::Value::Object(chosen_from));
    meta.extra.insert(
        "rejected".into(),
        json!({
            "model": bad.teacher.model,
            "params": bad.teacher.params,
            "sample": bad.sample,
            "turn": bad.turn,
            "class": class(bad).as_str(),
        }),
    );
    record.meta = meta;
    record
}

#[cfg(test)]
mod tests;
