//! `distill sft --model PATH --data FILE --out DIR [...]`: supervised fine-tuning
//! (LoRA by default, `--full` for every weight). Settings come from `--config FILE.toml`
//! (keys are the flag names) with flags overriding it; re-running the same command on
//! the same `--out` resumes from its newest checkpoint.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sft::finetune::{FinetuneConfig, FinetuneSummary, Progress, finetune, parse_target};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `distill sft`; unset flags take the config file's value, then the
/// library default.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML file whose keys mirror these flags (`lora-rank = 8`); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Base model: a GGUF file or a Hugging Face directory (the student, for
    /// `distill kd`).
    #[arg(long, visible_alias = "student")]
    model: Option<PathBuf>,
    /// SFT data (JSONL, ours or TRL's conversational shapes; `.gz` works).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory: metrics, checkpoints, the adapter.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train every weight instead of a LoRA adapter.
    #[arg(long)]
    full: bool,
    /// LoRA rank [default: 16].
    #[arg(long)]
    lora_rank: Option<usize>,
    /// LoRA alpha [default: 32].
    #[arg(long)]
    lora_alpha: Option<f64>,
    /// LoRA dropout [default: 0.05].
    #[arg(long)]
    lora_dropout: Option<f32>,
    /// Projections with adapters, comma-separated [default: all seven].
    #[arg(long, value_delimiter = ',')]
    lora_targets: Option<Vec<String>>,
    /// Passes over the data [default: 1].
    #[arg(long)]
    epochs: Option<u64>,
    /// Peak learning rate [default: 2e-4].
    #[arg(long)]
    lr: Option<f64>,
    /// Decoupled weight decay [default: 0].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Warmup steps [default: 0].
    #[arg(long)]
    warmup_steps: Option<u64>,
    /// Decay after warmup: cosine, linear or constant [default: cosine].
    #[arg(long)]
    decay: Option<String>,
    /// Examples per micro-batch [default: 4].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Micro-batches per optimizer step [default: 1].
    #[arg(long)]
    grad_accum: Option<usize>,
    /// Global gradient-norm limit, 0 = off [default: 1.0].
    #[arg(long)]
    max_grad_norm: Option<f64>,
    /// Longest example in tokens [default: 1024].
    #[arg(long)]
    max_len: Option<usize>,
    /// Seed [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Checkpoint every N steps (and at the end) [default: 100].
    #[arg(long)]
    save_every: Option<u64>,
    /// Checkpoints kept [default: 2].
    #[arg(long)]
    keep_last: Option<usize>,
    /// Held-out loss every N steps, 0 = never [default: 50].
    #[arg(long)]
    eval_every: Option<u64>,
    /// Fraction of problems held out for eval loss [default: 0.05].
    #[arg(long)]
    eval_fraction: Option<f64>,
    /// Stop after N steps in this invocation (run again to resume); 0 only checks the
    /// inputs and evaluates the starting model on the held-out data.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Skip and count bad records instead of stopping at the first.
    #[arg(long)]
    lenient: bool,
    /// Also write the adapter merged into the base weights to OUT/merged/.
    #[arg(long)]
    merge: bool,
}

/// The config file's settings with the flags laid over them.
pub(super) fn resolve(args: Args) -> anyhow::Result<FinetuneConfig> {
    let mut c = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?
        }
        None => FinetuneConfig::default(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $(if let Some(v) = args.$f { c.$f = v; })* };
    }
    set!(
        model,
        data,
        out,
        lora_rank,
        lora_alpha,
        lora_dropout,
        epochs,
        lr,
        weight_decay,
        warmup_steps,
        batch_size,
        grad_accum,
        max_grad_norm,
        max_len,
        seed,
        save_every,
        keep_last,
        eval_every,
        eval_fraction
    );
    if let Some(names) = &args.lora_targets {
        c.lora_targets = names
            .iter()
            .map(|n| parse_target(n.trim()))
            .collect::<Result<_, _>>()?;
    }
    if let Some(d) = &args.decay {
        c.decay = serde_json::from_value(serde_json::Value::String(d.clone()))
            .map_err(|_| anyhow::anyhow!("--decay {d}: expected cosine, linear or constant"))?;
    }
    c.max_steps = args.max_steps.or(c.max_steps);
    c.full |= args.full;
    c.lenient |= args.lenient;
    c.merge |= args.merge;
    for (flag, p) in [
        ("--model", &c.model),
        ("--data", &c.data),
        ("--out", &c.out),
    ] {
        anyhow::ensure!(
            !p.as_os_str().is_empty(),
            "{flag} is required (or set it in --config)"
        );
    }
    Ok(c)
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = resolve(args)?;
    train_with_progress("sft", |progress| finetune(&cfg, progress))
}

/// Runs a training job (`sft`, `kd`) behind a progress bar, then prints its summary
/// line, starting with `name`.
pub(super) fn train_with_progress(
    name: &str,
    run: impl FnOnce(&mut dyn FnMut(Progress<'_>)) -> sft::Result<FinetuneSummary>,
) -> anyhow::Result<ExitCode> {
    let bar = ProgressBar::hidden();
    let summary = run(&mut |p| match p {
        Progress::Start {
            start_step,
            total_steps,
            train_examples,
            eval_examples,
            skipped,
        } => {
            if skipped > 0 {
                eprintln!("skipped {skipped} bad records (--lenient)");
            }
            eprintln!(
                "training on {train_examples} examples ({eval_examples} held out), steps {start_step}/{total_steps}"
            );
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total_steps);
            bar.set_position(start_step);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed} < {eta}]")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
        Progress::StartEval(e) => {
            let extra: String = e
                .extra
                .iter()
                .map(|(k, v)| format!(", {k} {v:.4}"))
                .collect();
            bar.suspend(|| {
                eprintln!(
                    "held out, before training: eval_loss {:.4}{extra}",
                    e.eval_loss
                );
            });
        }
        Progress::Step(m) => {
            bar.set_position(m.step);
            bar.set_message(format!(
                "loss {:.4} lr {:.2e} {:.0} trained tok/s",
                m.loss, m.learning_rate, m.tokens_per_sec
            ));
        }
    })?;
    bar.finish_and_clear();
    for bad in &summary.skipped {
        eprintln!("skipped: {bad}");
    }
    let loss = summary
        .last
        .as_ref()
        .map_or("-".into(), |m| format!("{:.4}", m.loss));
    let eval = held_out_summary(&summary);
    let wrote = match (&summary.output, &summary.merged) {
        (Some(o), Some(m)) => format!("wrote {} and {}", o.display(), m.display()),
        (Some(o), None) => format!("wrote {}", o.display()),
        _ => "stopped early; run again to resume".into(),
    };
    let resumed = summary
        .resumed_from
        .map_or(String::new(), |s| format!(" (resumed at {s})"));
    println!(
        "{name}: {} new steps, {}/{} done{resumed}, loss {loss}, {eval}, {} skipped; {wrote}",
        summary.steps_run,
        summary.step,
        summary.total_steps,
        summary.skipped.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The held-out metrics at the start and at the last step, `eval_loss` first:
/// `eval_loss 0.52 → 0.41, eval_kl 0.30 → 0.22` (one side alone where the other is
/// missing, `eval_loss -` when there are none).
fn held_out_summary(summary: &FinetuneSummary) -> String {
    let mut start = std::collections::BTreeMap::new();
    if let Some(e) = &summary.start_eval {
        start.insert("eval_loss".to_string(), e.eval_loss);
        start.extend(e.extra.clone());
    }
    let mut end = std::collections::BTreeMap::new();
    if let Some(m) = &summary.last {
        if let Some(v) = m.eval_loss {
            end.insert("eval_loss".to_string(), v);
        }
        end.extend(
            m.extra
                .iter()
                .filter(|(k, _)| k.starts_with("eval_"))
                .map(|(k, v)| (k.clone(), *v)),
        );
    }
    let mut keys: Vec<&String> = start.keys().chain(end.keys()).collect();
    keys.sort_by_key(|k| (k.as_str() != "eval_loss", k.as_str()));
    keys.dedup();
    if keys.is_empty() {
        return "eval_loss -".into();
    }
    keys.iter()
        .map(|k| match (start.get(*k), end.get(*k)) {
            (Some(a), Some(b)) => format!("{k} {a:.4} → {b:.4}"),
            (Some(a), None) => format!("{k} {a:.4} (start)"),
            (None, Some(b)) => format!("{k} {b:.4}"),
            (None, None) => format!("{k} -"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
