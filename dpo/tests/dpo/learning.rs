//! Acceptance 3 of issue 6: LoRA DPO on SmolLM2-135M (its GGUF, dequantized) over
//! `fixtures/pairs.jsonl`: each prompt names a function after one operation but asks
//! for another (`double(x)` returning x plus two); chosen implements the request
//! (correct), rejected implements the name (wrong), which the starting model often
//! prefers (chosen above rejected on 17 of the 24 pairs). Within one epoch (10 steps
//! of 2 pairs, far below the 100-step budget) the train `rewards/accuracies` exceeds
//! 0.9, margins grow, `logps/chosen` is reported, and the held-out preference accuracy
//! (chosen log-prob above rejected) beats the starting model's.
//!
//! Measured (2 shared cores): 20 train / 4 held-out pairs, held-out accuracy 0.50 →
//! 0.75, train accuracy 1.0 on steps 7–10, mean margin 0.22 (steps 1–5) → 0.54
//! (steps 6–10); 73 s on 2 cores (about 3 minutes when other builds share them).

use crate::common::{onpolicy_pairs_fixture, pairs_fixture, smollm2_path};
use dpo::{DpoConfig, LossKind, train_dpo};

#[test]
fn lora_dpo_on_smollm2_learns_the_preference() {
    let out = tempfile::tempdir().unwrap();
    let cfg = DpoConfig {
        model: smollm2_path(),
        data: pairs_fixture(),
        out: out.path().to_path_buf(),
        lora_rank: 8,
        lora_alpha: 16.0,
        lora_dropout: 0.0,
        beta: 0.1,
        loss: vec![LossKind::Sigmoid],
        lr: 1e-3,
        batch_size: 2,
        epochs: 1,
        max_len: 128,
        eval_fraction: 0.25,
        eval_every: 0,
        save_every: 0,
        seed: 1,
        ..DpoConfig::default()
    };
    train_and_check_learning(&cfg, 6);
}

/// Acceptance 3 on pairs from real synth runs (`fixtures/onpolicy_pairs.jsonl`): the
/// teacher's verified answers against SmolLM2's own failed answers to the same bundled
/// problems, split by problem. The starting model prefers its own failure on most
/// held-out pairs; two epochs of LoRA DPO on the other problems' pairs turn that
/// around, so what is learnt carries over to problems it never trained on.
///
/// Measured (2 cores, 2026-11-29, the same settings through `distill dpo`): 39 train /
/// 15 held-out pairs, 40 steps, about 7 minutes; held-out chosen-above-rejected 0.27 →
/// 0.73, eval `rewards/accuracies` 1.00. One epoch gave 0.27 → 0.53 but train accuracy
/// 0.875 over its last 4 steps, hence two.
#[test]
fn lora_dpo_on_onpolicy_synth_pairs_carries_over_to_held_out_problems() {
    let out = tempfile::tempdir().unwrap();
    let cfg = DpoConfig {
        model: smollm2_path(),
        data: onpolicy_pairs_fixture(),
        out: out.path().to_path_buf(),
        lora_rank: 8,
        lora_alpha: 16.0,
        lora_dropout: 0.0,
        beta: 0.1,
        loss: vec![LossKind::Sigmoid],
        lr: 1e-3,
        batch_size: 2,
        epochs: 2,
        max_len: 512,
        eval_fraction: 0.25,
        eval_every: 0,
        save_every: 0,
        seed: 1,
        ..DpoConfig::default()
    };
    train_and_check_learning(&cfg, 30);
}

/// Trains `cfg` and checks acceptance 3: train `rewards/accuracies` above 0.9 over
/// the last 4 steps, margins growing from 0, `logps/chosen` reported (in the metrics
/// file too), the held-out preference accuracy above the starting model's, and the
/// adapter written. At least `min_steps` steps, all within the 100-step budget.
pub fn train_and_check_learning(cfg: &DpoConfig, min_steps: usize) {
    let out = &cfg.out;
    let t0 = std::time::Instant::now();
    let summary = train_dpo(cfg, |p| {
        if let dpo::Progress::Step(m) = p {
            eprintln!(
                "step {} loss {:.4} rewards/accuracies {:.2} rewards/margins {:.4} logps/chosen {:.3} logps/rejected {:.3} ({:.0}s)",
                m.base.step,
                m.base.loss,
                m.rewards_accuracies,
                m.rewards_margins,
                m.logps_chosen,
                m.logps_rejected,
                t0.elapsed().as_secs_f64()
            );
        }
    })
    .unwrap();
    let (start, end) = (
        summary.initial_eval.clone().unwrap(),
        summary.final_eval.clone().unwrap(),
    );
    eprintln!(
        "{} train / {} held-out pairs; held-out chosen>rejected accuracy {:.2} -> {:.2}, eval rewards/accuracies {:.2}, eval margins {:.3}",
        summary.train_pairs,
        summary.eval_pairs,
        start.logps_accuracy,
        end.logps_accuracy,
        end.rewards_accuracies,
        end.rewards_margins
    );
    let steps = &summary.steps;
    assert!(
        summary.eval_pairs > 0 && steps.len() >= min_steps && steps.len() <= 100,
        "{} steps",
        steps.len()
    );
    assert!(!summary.reference.is_hit());

    // train rewards/accuracies over the last 4 steps (8 pairs) above 0.9
    let tail = &steps[steps.len() - 4..];
    let acc = tail.iter().map(|m| m.rewards_accuracies).sum::<f64>() / tail.len() as f64;
    assert!(acc > 0.9, "train rewards/accuracies {acc}");
    // margins increase: step 1 has margin 0 (policy = reference), later ones grow
    assert!(
        steps[0].rewards_margins.abs() < 1e-3,
        "{}",
        steps[0].rewards_margins
    );
    let half = steps.len() / 2;
    let mean = |s: &[dpo::DpoStepMetrics]| {
        s.iter().map(|m| m.rewards_margins).sum::<f64>() / s.len() as f64
    };
    let (early, late) = (mean(&steps[..half]), mean(&steps[half..]));
    assert!(
        late > 1.5 * early && late > early + 0.1,
        "margins {:?}",
        steps.iter().map(|m| m.rewards_margins).collect::<Vec<_>>()
    );
    // logps/chosen is reported, in the metrics file too
    assert!(
        steps
            .iter()
            .all(|m| m.logps_chosen.is_finite() && m.logps_chosen < 0.0)
    );
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(last["logps/chosen"].as_f64().is_some(), "{last}");
    // held-out preference accuracy above the starting model's
    assert!(
        end.logps_accuracy > start.logps_accuracy,
        "held-out accuracy {} -> {}",
        start.logps_accuracy,
        end.logps_accuracy
    );
    assert!(end.rewards_accuracies > 0.5 && end.rewards_margins > 0.0);
    // the adapter is written in PEFT's layout
    assert!(out.join("adapter_model.safetensors").is_file());
    assert!(out.join("adapter_config.json").is_file());
}
