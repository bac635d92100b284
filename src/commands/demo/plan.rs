//! The demo's settings: a `--quick` preset that finishes in minutes on 2 cores and a
//! default preset over every bundled problem and all of HumanEval (hours on 2 cores:
//! BENCHMARKS.md, "The demo"). Everything here changes results, so the
//! whole plan is the run's fingerprint (`demo.json`).

use serde::{Deserialize, Serialize};

/// What one demo run does, stage by stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `quick` or `full`.
    pub preset: String,
    /// Bundled training problems used (the first N, in file order).
    pub problems: usize,
    /// Teacher samples per problem.
    pub samples: u32,
    /// Feedback turns after a failed answer.
    pub max_feedback: u32,
    /// Teacher sampling temperature.
    pub teacher_temperature: f32,
    /// Most tokens per teacher answer.
    pub teacher_max_tokens: u32,
    /// Student LoRA rank.
    pub lora_rank: usize,
    /// SFT passes over the verified data.
    pub sft_epochs: u64,
    /// SFT peak learning rate.
    pub sft_lr: f64,
    /// Samples per problem from the SFT student (its failures become the on-policy
    /// rejected side of DPO pairs; 0: teacher pairs only).
    #[serde(default)]
    pub student_samples: u32,
    /// DPO optimizer steps (at most).
    pub dpo_steps: u64,
    /// DPO peak learning rate.
    pub dpo_lr: f64,
    /// DPO β.
    pub dpo_beta: f64,
    /// HumanEval problems evaluated (the first N; 164 = all).
    pub eval_problems: usize,
    /// Most tokens per student answer in eval.
    pub eval_max_tokens: u32,
    /// Also train on unverified teacher answers and compare (`--ablation`).
    pub ablation: bool,
    /// Base seed of every stage.
    pub seed: u64,
}

impl Plan {
    /// The `--quick` preset: a few problems, one sample, a HumanEval subset.
    pub fn quick() -> Plan {
        Plan {
            preset: "quick".into(),
            problems: 10,
            samples: 1,
            max_feedback: 2,
            teacher_temperature: 0.7,
            teacher_max_tokens: 384,
            lora_rank: 16,
            sft_epochs: 3,
            sft_lr: 3e-4,
            student_samples: 2,
            dpo_steps: 20,
            dpo_lr: 5e-5,
            dpo_beta: 0.1,
            eval_problems: 15,
            eval_max_tokens: 256,
            ablation: false,
            seed: 0,
        }
    }

    /// The default preset: every bundled problem, two samples, all of HumanEval.
    pub fn full() -> Plan {
        Plan {
            preset: "full".into(),
            problems: usize::MAX,
            samples: 2,
            max_feedback: 3,
            teacher_temperature: 0.7,
            teacher_max_tokens: 512,
            lora_rank: 16,
            sft_epochs: 3,
            sft_lr: 2e-4,
            student_samples: 2,
            dpo_steps: 100,
            dpo_lr: 5e-5,
            dpo_beta: 0.1,
            eval_problems: 164,
            eval_max_tokens: 384,
            ablation: false,
            seed: 0,
        }
    }
}
