//! The demo's `report.md` and its charts (`feedback.png`: teacher pass rate by
//! feedback turn; `pass_at_1.png`: HumanEval pass@1 per student), from what the stages
//! reported. Numbers are printed as measured, whatever they are.

use super::plan::Plan;
use anyhow::Context;
use sft::bar_chart::{BarChart, render_bar_chart};
use std::fmt::Write as _;
use std::path::Path;

/// HumanEval score of one student.
#[derive(Debug, Clone)]
pub struct ModelScore {
    /// Row label (`base`, `sft`, `sft+dpo`, `unverified sft`).
    pub name: String,
    /// pass@1 over the evaluated problems.
    pub pass_at_1: f64,
    /// Problems solved (greedy: one sample each).
    pub solved: u64,
    /// Problems evaluated.
    pub problems: u64,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct ReportInputs<'a> {
    /// The run's settings.
    pub plan: &'a Plan,
    /// The synth stage's `report.json`.
    pub synth: &'a synth::Report,
    /// Teacher model label.
    pub teacher: String,
    /// Student model label.
    pub student: String,
    /// Last SFT metrics line (`loss`, `eval_loss`, ...), if any.
    pub sft_last: Option<serde_json::Value>,
    /// Why SFT did not run, if it did not.
    pub sft_skipped: Option<String>,
    /// Pairs of a verified teacher answer and a failed answer of the SFT student.
    pub onpolicy_pairs: Option<u64>,
    /// The SFT student's pass rate on the training problems, if it was sampled.
    pub student_pass_rate: Option<f64>,
    /// Last DPO metrics line, if DPO ran.
    pub dpo_last: Option<serde_json::Value>,
    /// Why DPO did not run, if it did not.
    pub dpo_skipped: Option<String>,
    /// Scores per student, in display order.
    pub scores: Vec<ModelScore>,
    /// Wall time per stage, seconds, in order.
    pub stage_seconds: Vec<(String, f64)>,
}

/// Writes `dir/report.md`, `dir/feedback.png` and `dir/pass_at_1.png`.
pub fn write_report(dir: &Path, inputs: &ReportInputs<'_>) -> anyhow::Result<()> {
    let s = inputs.synth;
    let feedback_png = dir.join("feedback.png");
    let mut bars = vec![("first try".to_string(), s.first_try_pass_rate)];
    for (k, rate) in s.pass_rate_after_turn.iter().enumerate().skip(1) {
        bars.push((format!("≤{k} feedback"), *rate));
    }
    render_bar_chart(
        &BarChart {
            title: "Teacher pass rate on the bundled problems".into(),
            y_label: "fraction of samples passed".into(),
            y_max: 1.0,
            bars,
        },
        &feedback_png,
        900,
        500,
    )
    .context("drawing feedback.png")?;
    if !inputs.scores.is_empty() {
        render_bar_chart(
            &BarChart {
                title: format!(
                    "HumanEval pass@1 (greedy, {} problems)",
                    inputs.scores[0].problems
                ),
                y_label: "pass@1".into(),
                y_max: 1.0,
                bars: inputs
                    .scores
                    .iter()
                    .map(|m| (m.name.clone(), m.pass_at_1))
                    .collect(),
            },
            &dir.join("pass_at_1.png"),
            900,
            500,
        )
        .context("drawing pass_at_1.png")?;
    }
    let md = markdown(inputs);
    let path = dir.join("report.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn metric(v: &Option<serde_json::Value>, key: &str) -> String {
    v.as_ref()
        .and_then(|m| m.get(key))
        .and_then(|x| x.as_f64())
        .map_or("–".to_string(), |x| format!("{x:.4}"))
}

/// The report's text.
fn markdown(inputs: &ReportInputs<'_>) -> String {
    let p = inputs.plan;
    let s = inputs.synth;
    let mut md = String::new();
    let _ = writeln!(md, "# distill demo report (preset `{}`)\n", p.preset);
    let _ = writeln!(
        md,
        "Teacher: {} (in-process). Student: {}. Sandbox: CPython 3.14 on WASI in wasmtime.\n",
        inputs.teacher, inputs.student
    );
    let _ = writeln!(md, "## 1. Verified data from the teacher\n");
    let _ = writeln!(
        md,
        "{} bundled problems (easiest first), {} sample(s) each, up to {} feedback turn(s), temperature {}; answers checked without their own demo code.\n",
        s.problems, p.samples, p.max_feedback, p.teacher_temperature
    );
    let _ = writeln!(md, "| measure | value |\n|---|---|");
    let _ = writeln!(
        md,
        "| teacher first-try pass rate | {} |",
        pct(s.first_try_pass_rate)
    );
    for (k, rate) in s.pass_rate_after_turn.iter().enumerate().skip(1) {
        let _ = writeln!(
            md,
            "| pass rate after ≤{k} feedback turn(s) | {} |",
            pct(*rate)
        );
    }
    let _ = writeln!(
        md,
        "| problems with a verified answer | {} of {} |",
        s.accepted_problems, s.finished
    );
    let _ = writeln!(md, "| teacher answers | {} |", s.attempts);
    let _ = writeln!(md, "| SFT records | {} |", s.sft_records);
    let _ = writeln!(
        md,
        "| DPO pairs (teacher failed vs passed) | {} |",
        s.dpo_records
    );
    let failures: Vec<String> = s
        .failure_classes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(md, "| failed answers by class | {} |", failures.join(", "));
    if let Some(rate) = inputs.student_pass_rate {
        let _ = writeln!(
            md,
            "| SFT student's pass rate on these problems | {} |",
            pct(rate)
        );
    }
    if let Some(n) = inputs.onpolicy_pairs {
        let _ = writeln!(
            md,
            "| on-policy DPO pairs (teacher passed vs SFT student failed) | {n} |"
        );
    }
    let _ = writeln!(
        md,
        "\n![teacher pass rate by feedback turn](feedback.png)\n"
    );
    let _ = writeln!(md, "## 2. Training the student\n");
    match &inputs.sft_skipped {
        Some(why) => {
            let _ = writeln!(md, "SFT did not run: {why}.\n");
        }
        None => {
            let _ = writeln!(
                md,
                "LoRA rank {}, SFT {} epoch(s) at lr {}: last loss {}, held-out loss {}.\n",
                p.lora_rank,
                p.sft_epochs,
                p.sft_lr,
                metric(&inputs.sft_last, "loss"),
                metric(&inputs.sft_last, "eval_loss")
            );
            let _ = writeln!(md, "![SFT curves](sft/metrics.png)\n");
        }
    }
    match &inputs.dpo_skipped {
        Some(why) => {
            let _ = writeln!(md, "DPO did not run: {why}.\n");
        }
        None => {
            let _ = writeln!(
                md,
                "DPO (β {}, NLL term 0.2, up to {} steps at lr {}): last loss {}, rewards/accuracies {}, rewards/margins {}, logps/chosen {}.\n",
                p.dpo_beta,
                p.dpo_steps,
                p.dpo_lr,
                metric(&inputs.dpo_last, "loss"),
                metric(&inputs.dpo_last, "rewards/accuracies"),
                metric(&inputs.dpo_last, "rewards/margins"),
                metric(&inputs.dpo_last, "logps/chosen"),
            );
            let _ = writeln!(md, "![DPO curves](dpo/metrics.png)\n");
        }
    }
    let _ = writeln!(md, "## 3. HumanEval, in the same sandbox\n");
    if let Some(first) = inputs.scores.first() {
        let subset = if first.problems < 164 {
            format!(" (the first {} of 164 problems)", first.problems)
        } else {
            String::new()
        };
        let _ = writeln!(md, "Greedy decoding, one sample per problem{subset}.\n");
        let _ = writeln!(md, "| student | pass@1 | solved |\n|---|---|---|");
        for m in &inputs.scores {
            let _ = writeln!(
                md,
                "| {} | {} | {}/{} |",
                m.name,
                pct(m.pass_at_1),
                m.solved,
                m.problems
            );
        }
        let _ = writeln!(md, "\n![pass@1 per student](pass_at_1.png)\n");
    }
    let _ = writeln!(md, "## Stage times\n\n| stage | seconds |\n|---|---|");
    for (stage, secs) in &inputs.stage_seconds {
        let _ = writeln!(md, "| {stage} | {secs:.0} |");
    }
    md
}
