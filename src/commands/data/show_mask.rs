//! `distill data show-mask FILE --model GGUF --n 3`: the rendered samples with trained
//! tokens marked, to check assistant-only masks by eye.

use super::read_sft;
use anyhow::Context;
use datasets::chat::{ChatTemplate, MaskOptions, show_mask};
use datasets::tokenizer::GgufTokenizer;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `distill data show-mask`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SFT file (ours or TRL shapes).
    input: PathBuf,
    /// GGUF model whose tokenizer and chat template to use.
    #[arg(long)]
    model: PathBuf,
    /// Samples to show.
    #[arg(long, default_value_t = 3)]
    n: usize,
    /// Leave special (formatting) tokens out of the loss, as Llama 3's DPO did.
    #[arg(long)]
    mask_special: bool,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let tok = GgufTokenizer::from_file(&args.model)?;
    let source = tok
        .chat_template
        .clone()
        .with_context(|| format!("{} has no chat template", args.model.display()))?;
    let template = ChatTemplate::new(
        source,
        tok.bos_token.clone().unwrap_or_default(),
        tok.eos_token.clone().unwrap_or_default(),
    )?;
    let bos_id = tok
        .bos_token
        .as_deref()
        .and_then(|t| tok.tokenizer.token_to_id(t));
    let options = MaskOptions {
        mask_special_tokens: args.mask_special,
        bos_id,
        ..MaskOptions::default()
    };
    let (records, _) = read_sft(&args.input, false)?;
    for (line, record) in records.iter().take(args.n) {
        let sample = template
            .assistant_mask(&tok.tokenizer, &record.messages, &options)
            .with_context(|| format!("{}:{line}: messages", args.input.display()))?;
        let trained = sample.loss_mask.iter().filter(|&&m| m).count();
        println!(
            "── {}:{line} ({} tokens, {trained} trained) ──",
            args.input.display(),
            sample.input_ids.len()
        );
        println!("{}", show_mask(&tok.tokenizer, &sample));
    }
    Ok(ExitCode::SUCCESS)
}
