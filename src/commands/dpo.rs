//! `distill dpo --model PATH --data FILE --out DIR [...]`: preference optimization
//! (LoRA by default, `--full` for every weight; `--adapter DIR` continues an SFT
//! adapter). Settings come from `--config FILE.toml` (keys are the flag names) with
//! flags overriding it; re-running the same command on the same `--out` resumes, and
//! the reference log-probs are read from the cache instead of recomputed.

use anyhow::Context;
use dpo::run::{DpoConfig, Progress, train_dpo};
use dpo::{CacheStatus, LossKind, Truncation};
use indicatif::{ProgressBar, ProgressStyle};
use sft::finetune::parse_target;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

/// Arguments of `distill dpo`; unset flags take the config file's value, then the
/// library default.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML file whose keys mirror these flags (`beta = 0.1`); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Starting model: a GGUF file or a Hugging Face directory.
    #[arg(long)]
    model: Option<PathBuf>,
    /// A LoRA adapter (PEFT layout, e.g. from `distill sft`) to continue training; the
    /// reference model is the model with it.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Preference data (JSONL: TRL's preference shapes or ours; `.gz` works).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory: metrics, checkpoints, reference cache, the adapter.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train every weight instead of a LoRA adapter.
    #[arg(long)]
    full: bool,
    /// β [default: 0.1].
    #[arg(long)]
    beta: Option<f64>,
    /// Loss terms, comma-separated: sigmoid, ipo, hinge, robust, cdpo, sigmoid_norm,
    /// sft [default: sigmoid].
    #[arg(long)]
    loss: Option<String>,
    /// One weight per loss term, comma-separated [default: 1 each].
    #[arg(long)]
    loss_weights: Option<String>,
    /// ε for robust and cdpo [default: 0].
    #[arg(long)]
    label_smoothing: Option<f64>,
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
    /// Passes over the pairs [default: 1].
    #[arg(long)]
    epochs: Option<u64>,
    /// Peak learning rate [default: 5e-5].
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
    /// Pairs per micro-batch [default: 4].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Micro-batches per optimizer step [default: 1].
    #[arg(long)]
    grad_accum: Option<usize>,
    /// Global gradient-norm limit, 0 = off [default: 1.0].
    #[arg(long)]
    max_grad_norm: Option<f64>,
    /// Most tokens in prompt + completion [default: 1024].
    #[arg(long)]
    max_len: Option<usize>,
    /// Most prompt tokens kept (the end is kept) [default: max-len / 2].
    #[arg(long)]
    max_prompt_len: Option<usize>,
    /// keep-end (cut long prompts at the front, long completions at the end) or
    /// reject (such pairs are bad pairs) [default: keep-end].
    #[arg(long)]
    truncation: Option<String>,
    /// Leave formatting tokens (role headers, end-of-turn) out of the summed
    /// log-probs, as Llama 3 did.
    #[arg(long)]
    mask_format_tokens: bool,
    /// Seed [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Checkpoint every N steps (and at the end) [default: 100].
    #[arg(long)]
    save_every: Option<u64>,
    /// Checkpoints kept [default: 2].
    #[arg(long)]
    keep_last: Option<usize>,
    /// Held-out metrics every N steps, 0 = never [default: 50].
    #[arg(long)]
    eval_every: Option<u64>,
    /// Fraction of problems held out [default: 0.05].
    #[arg(long)]
    eval_fraction: Option<f64>,
    /// Stop after N steps in this invocation (run again to resume).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Directory of the reference log-prob cache [default: OUT/ref_logps].
    #[arg(long)]
    ref_cache: Option<PathBuf>,
    /// Skip and count bad pairs instead of stopping at the first.
    #[arg(long)]
    lenient: bool,
}

/// Parses a comma-separated list.
fn list<T>(text: &str, parse: impl Fn(&str) -> anyhow::Result<T>) -> anyhow::Result<Vec<T>> {
    text.split(',').map(|x| parse(x.trim())).collect()
}

/// The config file's settings with the flags laid over them.
fn resolve(args: Args) -> anyhow::Result<DpoConfig> {
    let mut c = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?
        }
        None => DpoConfig::default(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $(if let Some(v) = args.$f { c.$f = v; })* };
    }
    set!(
        model,
        data,
        out,
        beta,
        label_smoothing,
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
    c.adapter = args.adapter.or(c.adapter);
    c.max_prompt_len = args.max_prompt_len.or(c.max_prompt_len);
    c.max_steps = args.max_steps.or(c.max_steps);
    c.ref_cache = args.ref_cache.or(c.ref_cache);
    if let Some(names) = &args.loss {
        c.loss = list(names, |n| Ok(LossKind::from_str(n)?))?;
    }
    if let Some(w) = &args.loss_weights {
        c.loss_weights = list(w, |x| {
            x.parse::<f64>()
                .map_err(|e| anyhow::anyhow!("--loss-weights `{x}`: {e}"))
        })?;
    }
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
    if let Some(t) = &args.truncation {
        c.truncation =
            serde_json::from_value::<Truncation>(serde_json::Value::String(t.clone()))
                .map_err(|_| anyhow::anyhow!("--truncation {t}: expected keep-end or reject"))?;
    }
    c.full |= args.full;
    c.lenient |= args.lenient;
    c.mask_format_tokens |= args.mask_format_tokens;
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

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} {msg} [{elapsed} < {eta}]")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = resolve(args)?;
    let bar = ProgressBar::hidden();
    let summary = train_dpo(&cfg, |p| match p {
        Progress::Data {
            train_pairs,
            eval_pairs,
            skipped,
            report,
        } => {
            if skipped > 0 {
                eprintln!("skipped {skipped} bad pairs (--lenient)");
            }
            if report.prompts_truncated + report.completions_truncated > 0 {
                eprintln!(
                    "truncated {} prompts (kept their end) and {} completions (kept their start)",
                    report.prompts_truncated, report.completions_truncated
                );
            }
            eprintln!("{train_pairs} training pairs, {eval_pairs} held out");
        }
        Progress::Reference { done, total } => {
            if bar.is_hidden() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(bar_style());
                bar.set_prefix("reference");
                bar.set_length(total as u64);
            }
            bar.set_position(done as u64);
        }
        Progress::Start {
            reference,
            start_step,
            total_steps,
            initial_eval,
        } => {
            match reference {
                CacheStatus::Hit { path } => {
                    eprintln!("reference log-probs: cache hit ({})", path.display())
                }
                CacheStatus::Computed { path, pairs } => eprintln!(
                    "reference log-probs: computed for {pairs} pairs ({})",
                    path.display()
                ),
            }
            if let Some(e) = initial_eval {
                eprintln!(
                    "starting model, held out: chosen log-prob above rejected on {:.0}% of pairs",
                    100.0 * e.logps_accuracy
                );
            }
            eprintln!("steps {start_step}/{total_steps}");
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_style(bar_style());
            bar.set_prefix("dpo");
            bar.set_length(total_steps);
            bar.set_position(start_step);
        }
        Progress::Step(m) => {
            bar.set_position(m.base.step);
            bar.set_message(format!(
                "loss {:.4} acc {:.2} margin {:.3} lr {:.2e} {:.0} tok/s",
                m.base.loss,
                m.rewards_accuracies,
                m.rewards_margins,
                m.base.learning_rate,
                m.base.tokens_per_sec
            ));
        }
    })?;
    bar.finish_and_clear();
    for bad in &summary.skipped {
        eprintln!("skipped: {bad}");
    }
    let last = summary.steps.last();
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    let eval = summary.final_eval.as_ref().map_or(String::new(), |e| {
        format!(
            ", held-out rewards/accuracies {:.2}, chosen-above-rejected {:.2}",
            e.rewards_accuracies, e.logps_accuracy
        )
    });
    let wrote = match &summary.output {
        Some(o) => format!("wrote {}", o.display()),
        None => "stopped early; run again to resume".into(),
    };
    let resumed = summary
        .resumed_from
        .map_or(String::new(), |s| format!(" (resumed at {s})"));
    println!(
        "dpo: {} new steps, {}/{} done{resumed}, loss {}, rewards/accuracies {}, rewards/margins {}{eval}, {} skipped; {wrote}",
        summary.steps_run,
        summary.step,
        summary.total_steps,
        fmt(last.map(|m| m.base.loss)),
        fmt(last.map(|m| m.rewards_accuracies)),
        fmt(last.map(|m| m.rewards_margins)),
        summary.skipped.len()
    );
    Ok(ExitCode::SUCCESS)
}
