//! `distill kd --teacher PATH --student PATH --data FILE --out DIR [...]`: logit
//! distillation (forward/reverse KL or generalized JSD, mixed with cross-entropy) on
//! the SFT training loop; `distill kd cache` writes the teacher's top-k log-probs
//! once so that training runs without the teacher (`--teacher-cache DIR`);
//! `distill kd init-student` cuts a smaller student from the teacher's layers. Every
//! training flag of `distill sft` applies (LoRA or `--full`, schedule, checkpoints,
//! `--config`); re-running the same command resumes.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sft::kd::init_student::init_student;
use sft::kd::loss::KdLoss;
use sft::kd::run::{KdConfig, TeacherSpec, distill, write_topk_cache};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `distill kd` (or its `cache` subcommand).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `distill kd cache`: compute the teacher's top-k log-probs for the data once.
    #[command(subcommand)]
    command: Option<KdCommand>,
    #[command(flatten)]
    kd: KdArgs,
}

#[derive(Debug, clap::Subcommand)]
enum KdCommand {
    /// Run the teacher over the data (prepared exactly as `distill kd` prepares it)
    /// and write its top-k log-probs per trained position to `--out`.
    Cache(Box<CacheArgs>),
    /// Write a smaller student cut from a model: its embeddings, head, tokenizer and
    /// N of its layers, evenly spaced (it shares the teacher's vocabulary by
    /// construction).
    InitStudent(InitStudentArgs),
}

#[derive(Debug, clap::Args)]
struct InitStudentArgs {
    /// The model to cut from (GGUF file or Hugging Face directory), usually the teacher.
    #[arg(long)]
    from: PathBuf,
    /// Decoder layers the student keeps.
    #[arg(long)]
    layers: usize,
    /// Output Hugging Face directory.
    #[arg(long)]
    out: PathBuf,
}

/// The distillation settings (the student's training settings are `distill sft`'s).
#[derive(Debug, clap::Args)]
struct KdArgs {
    /// Teacher model (GGUF file or Hugging Face directory) sharing the student's
    /// tokenizer.
    #[arg(long, conflicts_with = "teacher_cache")]
    teacher: Option<PathBuf>,
    /// A top-k cache written by `distill kd cache` instead of a teacher model.
    #[arg(long)]
    teacher_cache: Option<PathBuf>,
    #[command(flatten)]
    loss: LossArgs,
    /// Weight of the cross-entropy on the data's answers: loss = (1 - w) * divergence
    /// + w * CE.
    #[arg(long, default_value_t = 0.5)]
    ce_weight: f64,
    /// Fraction of steps trained on the student's own samples scored by the teacher
    /// (GKD's lambda; needs --teacher).
    #[arg(long, default_value_t = 0.0)]
    on_policy: f64,
    /// Most tokens per on-policy sample.
    #[arg(long, default_value_t = 128)]
    on_policy_max_new_tokens: usize,
    /// Sampling temperature of on-policy samples.
    #[arg(long, default_value_t = 0.9)]
    on_policy_temperature: f32,
    #[command(flatten)]
    train: Box<super::sft::Args>,
}

/// Which divergence.
#[derive(Debug, clap::Args)]
struct LossArgs {
    /// `forward_kl` (KL(teacher || student)), `reverse_kl` (KL(student || teacher)) or
    /// `jsd` (generalized JSD with --beta).
    #[arg(long, default_value = "jsd")]
    loss: String,
    /// The JSD's interpolation in (0, 1) (0 and 1 are the two KLs) [default: 0.5].
    #[arg(long)]
    beta: Option<f64>,
    /// Softmax temperature of both distributions.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
}

#[derive(Debug, clap::Args)]
struct CacheArgs {
    /// Teacher model (GGUF file or Hugging Face directory).
    #[arg(long)]
    teacher: PathBuf,
    /// Tokens kept per position.
    #[arg(long, default_value_t = 64)]
    top_k: usize,
    /// The data settings of the later `distill kd` run (`--model`/`--student`,
    /// `--data`, `--max-len`, `--eval-fraction`, `--seed`); `--out` is the cache
    /// directory.
    #[command(flatten)]
    train: Box<super::sft::Args>,
}

impl LossArgs {
    fn resolve(&self) -> anyhow::Result<KdLoss> {
        let beta = match (self.loss.as_str(), self.beta) {
            ("forward_kl", None) => 0.0,
            ("reverse_kl", None) => 1.0,
            ("jsd", b) => b.unwrap_or(0.5),
            ("forward_kl" | "reverse_kl", Some(_)) => {
                anyhow::bail!("--beta applies to --loss jsd only")
            }
            (other, _) => {
                anyhow::bail!("--loss {other}: expected forward_kl, reverse_kl or jsd")
            }
        };
        let loss = KdLoss {
            beta,
            temperature: self.temperature,
        };
        loss.validate()?;
        Ok(loss)
    }
}

fn resolve(args: KdArgs) -> anyhow::Result<KdConfig> {
    let teacher = match (args.teacher, args.teacher_cache) {
        (Some(p), None) => TeacherSpec::Model(p),
        (None, Some(c)) => TeacherSpec::Cache(c),
        _ => anyhow::bail!("one of --teacher and --teacher-cache is required"),
    };
    Ok(KdConfig {
        train: super::sft::resolve(*args.train)?,
        teacher,
        loss: args.loss.resolve()?,
        ce_weight: args.ce_weight,
        on_policy: args.on_policy,
        on_policy_max_new_tokens: args.on_policy_max_new_tokens,
        on_policy_temperature: args.on_policy_temperature,
    })
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(KdCommand::Cache(cache)) => return execute_cache(*cache),
        Some(KdCommand::InitStudent(a)) => {
            let kept = init_student(&a.from, a.layers, &a.out)
                .with_context(|| format!("student from {}", a.from.display()))?;
            println!(
                "kd init-student: wrote {} with layers {kept:?} of {}",
                a.out.display(),
                a.from.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let cfg = resolve(args.kd)?;
    super::sft::train_with_progress("kd", |progress| distill(&cfg, progress))
}

fn execute_cache(args: CacheArgs) -> anyhow::Result<ExitCode> {
    let cfg = KdConfig {
        train: super::sft::resolve(*args.train)?,
        teacher: TeacherSpec::Model(args.teacher),
        ..KdConfig::default()
    };
    let out = cfg.train.out.clone();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} examples [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let meta = write_topk_cache(&cfg, args.top_k, &out, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .with_context(|| format!("kd cache into {}", out.display()))?;
    bar.finish_and_clear();
    println!(
        "kd cache: top-{} log-probs of {} positions from {} written to {}",
        meta.k,
        meta.rows,
        meta.teacher,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
