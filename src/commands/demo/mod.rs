//! `distill demo`: the whole recipe on embedded defaults, no server and no key.
//!
//! setup (runtime, teacher, student, HumanEval) → synth on the bundled problems with
//! the in-process teacher and execution feedback → LoRA SFT of the student on the
//! verified answers → the SFT student answers the same problems in the sandbox → DPO
//! on the teacher's (failed, passed) pairs plus on-policy pairs (verified teacher
//! answer against the student's own failed answer) → HumanEval pass@1 of the
//! base, SFT and SFT+DPO students in the same sandbox → `report.md` with charts.
//! `--ablation` also trains on unverified teacher answers. Every stage resumes: a
//! re-run skips finished stages and continues the unfinished one.

mod plan;
mod report;
mod stages;
mod state;

use plan::Plan;
use stages::Demo;
use state::State;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `distill demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run directory (re-running the same command resumes).
    #[arg(long, default_value = "distill-demo")]
    out: PathBuf,
    /// The small preset: a few problems, a HumanEval subset; minutes on 2 cores.
    #[arg(long)]
    quick: bool,
    /// Also fine-tune on as many unverified teacher answers and compare.
    #[arg(long)]
    ablation: bool,
    /// Start over in `--out`, discarding earlier stages.
    #[arg(long)]
    force: bool,
    /// Teacher GGUF. Default: the cached Qwen2.5-Coder-0.5B-Instruct.
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Student GGUF or Hugging Face directory. Default: the cached SmolLM2-135M-Instruct.
    #[arg(long)]
    student: Option<PathBuf>,
    /// Override: bundled problems used.
    #[arg(long)]
    problems: Option<usize>,
    /// Override: HumanEval problems evaluated.
    #[arg(long)]
    eval_problems: Option<usize>,
    /// Override: SFT epochs.
    #[arg(long)]
    sft_epochs: Option<u64>,
    /// Override: DPO steps.
    #[arg(long)]
    dpo_steps: Option<u64>,
    /// Override: most tokens per teacher answer.
    #[arg(long)]
    teacher_max_tokens: Option<u32>,
    /// Override: most tokens per student answer in eval.
    #[arg(long)]
    eval_max_tokens: Option<u32>,
}

impl Args {
    fn plan(&self) -> Plan {
        let mut p = if self.quick {
            Plan::quick()
        } else {
            Plan::full()
        };
        p.ablation = self.ablation;
        if let Some(n) = self.problems {
            p.problems = n;
        }
        if let Some(n) = self.eval_problems {
            p.eval_problems = n;
        }
        if let Some(n) = self.sft_epochs {
            p.sft_epochs = n;
        }
        if let Some(n) = self.dpo_steps {
            p.dpo_steps = n;
        }
        if let Some(n) = self.teacher_max_tokens {
            p.teacher_max_tokens = n;
        }
        if let Some(n) = self.eval_max_tokens {
            p.eval_max_tokens = n;
        }
        p
    }
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let plan = args.plan();
    let state = State::open(&args.out, &plan, args.force)?;
    let mut demo = Demo::prepare(args.out.clone(), state, args.teacher, args.student)?;
    demo.run()?;
    println!("report: {}", args.out.join("report.md").display());
    Ok(ExitCode::SUCCESS)
}
