//! Training data from the journal: accepted dialogues for `sft.jsonl` and
//! passing-versus-failing pairs for `dpo.jsonl`, with provenance. Built from the
//! journal alone, in problem-file order, so a resumed run writes the same files as an
//! uninterrupted one.

use crate::check::VerdictClass;
use crate::options::{DpoRejected, SftDialogue, SynthOptions};
use crate::prompt::TEMPLATE_VERSION;
use crate::run::config::limits_json;
use datasets::records::{
    Attempt, AttemptSummary, DpoRecord, Message, Provenance, RuntimeInfo, SftRecord,
};
use serde_json::{Map, Value, json};

/// Run-wide facts every record's provenance carries.
#[derive(Debug, Clone)]
pub struct ProvenanceBase {
    /// sha256 of the sandbox runtime, when known.
    pub runtime_sha256: Option<String>,
    /// Sandbox limits.
    pub limits: sandbox::Limits,
}

fn provenance(
    base: &ProvenanceBase,
    first: &Attempt,
    history: Vec<AttemptSummary>,
    extra: Map<String, Value>,
) -> Provenance {
    let limits = match limits_json(base.limits) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Provenance {
        problem_id: Some(first.problem_id.clone()),
        teacher: Some(first.teacher.clone()),
        prompt_template: Some(TEMPLATE_VERSION.into()),
        attempts: Some(history),
        runtime: base.runtime_sha256.as_ref().map(|hash| RuntimeInfo {
            hash: hash.clone(),
            limits,
        }),
        tool_version: Some(format!("distill-synth {}", env!("CARGO_PKG_VERSION"))),
        extra,
    }
}

fn summary(a: &Attempt) -> AttemptSummary {
    AttemptSummary {
        sample: a.sample,
        turn: a.turn,
        status: a.outcome.status,
    }
}

/// The assistant message of an attempt in the outputs: as the teacher wrote it, or,
/// when the run strips demo code, the checked code alone in a fenced block (so the
/// data never carries a self-test the verdict ignored, or a truncated tail).
fn answer(a: &Attempt, options: &SynthOptions) -> String {
    formatted_answer(a, options.strip_demo_code)
}

/// An attempt's answer as a run's outputs hold it: with `strip_demo_code`, the checked
/// code alone in a fenced block; otherwise the teacher's text.
pub fn formatted_answer(a: &Attempt, strip_demo_code: bool) -> String {
    match (&a.code, strip_demo_code) {
        (Some(code), true) => format!("```python\n{}\n```", code.trim_end()),
        _ => a.completion.clone(),
    }
}

/// How an attempt fared, from its journal record.
pub(crate) fn class(a: &Attempt) -> VerdictClass {
    VerdictClass::of_record(a.outcome.status, a.code.is_some())
}

/// Whether an attempt may be the `rejected` side of a pair under `rule`.
pub(crate) fn may_be_rejected(a: &Attempt, rule: DpoRejected) -> bool {
    match class(a) {
        VerdictClass::Passed => false,
        VerdictClass::NoCode | VerdictClass::Syntax => rule == DpoRejected::AnyFailure,
        _ => true,
    }
}

/// The SFT records of one problem: one per passing sample. `attempts` must be this
/// problem's attempts sorted by (sample, turn) without duplicates.
pub fn sft_records(
    attempts: &[Attempt],
    options: &SynthOptions,
    base: &ProvenanceBase,
) -> Vec<SftRecord> {
    let mut out = Vec::new();
    for passed in attempts.iter().filter(|a| class(a) == VerdictClass::Passed) {
        let history: Vec<AttemptSummary> = attempts
            .iter()
            .filter(|a| a.sample == passed.sample)
            .map(summary)
            .collect();
        let mut messages = match options.sft_dialogue {
            SftDialogue::Clean => passed.messages.iter().take(2).cloned().collect(),
            SftDialogue::Feedback => passed.messages.clone(),
        };
        messages.push(Message::assistant(answer(passed, options)));
        let mut extra = Map::new();
        extra.insert("sample".into(), json!(passed.sample));
        extra.insert("turn".into(), json!(passed.turn));
        let mut record = SftRecord::new(messages);
        record.meta = provenance(base, passed, history, extra);
        out.push(record);
    }
    out
}

/// The DPO pairs of one problem: the i-th passing answer (in (sample, turn) order)
/// against the i-th eligible failing answer, on the clean prompt; pairs whose two
/// answers are identical are skipped.
pub fn dpo_records(
    attempts: &[Attempt],
    options: &SynthOptions,
    base: &ProvenanceBase,
) -> Vec<DpoRecord> {
    let chosen = attempts.iter().filter(|a| class(a) == VerdictClass::Passed);
    let rejected = attempts
        .iter()
        .filter(|a| may_be_rejected(a, options.dpo_rejected));
    let mut out = Vec::new();
    for (good, bad) in chosen.zip(rejected) {
        if answer(good, options) == answer(bad, options) {
            continue;
        }
        let prompt: Vec<Message> = good.messages.iter().take(2).cloned().collect();
        let mut extra = Map::new();
        extra.insert(
            "chosen".into(),
            json!({"sample": good.sample, "turn": good.turn}),
        );
        extra.insert(
            "rejected".into(),
            json!({"sample": bad.sample, "turn": bad.turn, "class": class(bad).as_str()}),
        );
        let mut record = DpoRecord::new(
            prompt,
            vec![Message::assistant(answer(good, options))],
            vec![Message::assistant(answer(bad, options))],
        );
        record.meta = provenance(base, good, vec![summary(bad), summary(good)], extra);
        out.push(record);
    }
    out
}
