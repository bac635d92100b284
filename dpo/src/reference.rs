//! Reference log-probabilities: the summed completion log-probs of every pair under
//! the frozen starting model, computed in one pass before training and cached on disk.
//!
//! The pass runs on the very model that then trains, before its first step (and
//! before a checkpoint is restored): with LoRA the fresh adapters' `B = 0` makes the
//! model equal to its base (PEFT's "adapters disabled"); a starting adapter
//! (`--adapter`) makes the reference that adapter's model; with full fine-tuning the
//! weights are still the starting ones. So training never holds two models.
//!
//! The cache is `DIR/{key}.json` (by default `OUT/ref_logps/`), where `key` is a
//! SHA-256 over everything that changes the numbers: the model's weight files and any
//! starting adapter (their bytes), the data file, the tokenizer (its JSON), the chat
//! template, the tokenizing options (max length, truncation, masking) and the
//! tokenized pairs themselves. Any change gives another key, so a stale file is
//! never read; a file that fails to parse or disagrees with the pairs is recomputed.

use crate::error::{DpoError, Result};
use crate::logps::{SequenceLogps, sequence_logps};
use crate::pairs::TokenizedPair;
use candle_core::DType;
use serde::{Deserialize, Serialize};
use sft::data::{Batch, collate};
use sft::{CausalLm, Example, ForwardCtx};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Version of the cache file layout.
pub const CACHE_VERSION: u32 = 1;

/// One pair's reference log-probabilities (summed over counted completion tokens).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RefLogps {
    /// `log p_ref(chosen | prompt)`.
    pub chosen: f64,
    /// `log p_ref(rejected | prompt)`.
    pub rejected: f64,
}

/// One forward over a batch of pairs in TRL's layout (the `B` chosen sequences, then
/// their `B` rejected sequences, right-padded with `pad_id`): the logits
/// `(2B, seq, vocab)` and the collated batch (its `loss_mask` is the completion mask).
pub fn pair_forward(
    model: &CausalLm,
    pairs: &[&TokenizedPair],
    pad_id: u32,
    ctx: &mut ForwardCtx,
) -> Result<(candle_core::Tensor, Batch)> {
    let seqs: Vec<Example> = pairs
        .iter()
        .map(|p| p.chosen())
        .chain(pairs.iter().map(|p| p.rejected()))
        .collect();
    let refs: Vec<&Example> = seqs.iter().collect();
    let b = collate(&refs, pad_id, model.device())?;
    let logits = model.forward(
        &b.input_ids,
        Some(&b.attention_mask),
        Some(&b.position_ids),
        ctx,
    )?;
    Ok((logits, b))
}

/// Summed completion log-probs of a batch of pairs ([`pair_forward`]), split into
/// the chosen and rejected halves.
pub fn pair_logps(
    model: &CausalLm,
    pairs: &[&TokenizedPair],
    pad_id: u32,
    ctx: &mut ForwardCtx,
) -> Result<(SequenceLogps, SequenceLogps)> {
    let (logits, b) = pair_forward(model, pairs, pad_id, ctx)?;
    sequence_logps(&logits, &b.input_ids, &b.loss_mask)?.split_pairs()
}

/// Reference log-probs of `pairs` under `model` (no dropout, no gradients),
/// `batch_size` pairs per forward; `progress` gets the number of pairs done.
pub fn compute_reference(
    model: &CausalLm,
    pairs: &[TokenizedPair],
    batch_size: usize,
    pad_id: u32,
    mut progress: impl FnMut(usize),
) -> Result<Vec<RefLogps>> {
    let mut out = Vec::with_capacity(pairs.len());
    let refs: Vec<&TokenizedPair> = pairs.iter().collect();
    for chunk in refs.chunks(batch_size.max(1)) {
        let (c, r) = pair_logps(model, chunk, pad_id, &mut ForwardCtx::eval())?;
        let c: Vec<f64> = c.logps.detach().to_dtype(DType::F64)?.to_vec1()?;
        let r: Vec<f64> = r.logps.detach().to_dtype(DType::F64)?.to_vec1()?;
        out.extend(
            c.into_iter()
                .zip(r)
                .map(|(chosen, rejected)| RefLogps { chosen, rejected }),
        );
        progress(out.len());
    }
    Ok(out)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DpoError + use<> {
    let path = path.to_path_buf();
    move |source| DpoError::Io { path, source }
}

/// SHA-256 of a file's bytes, hex.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The files whose bytes define a model or adapter: the file itself (GGUF), or a
/// directory's `*.json` and `*.safetensors` files, sorted by name.
pub fn model_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io(path))? {
        let p = entry.map_err(io(path))?.path();
        let keep = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "json" || e == "safetensors" || e == "jinja");
        if keep && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Everything the reference log-probs depend on.
#[derive(Debug, Clone)]
pub struct CacheKeyInputs<'a> {
    /// The model (GGUF file or Hugging Face directory).
    pub model: &'a Path,
    /// A starting adapter directory, if any.
    pub adapter: Option<&'a Path>,
    /// The preference data file.
    pub data: &'a Path,
    /// The tokenizer, serialized (`tokenizer.json` text).
    pub tokenizer_json: &'a str,
    /// The chat template's source.
    pub template: &'a str,
    /// The tokenizing options (max length, truncation, masking, split), as JSON.
    pub options: serde_json::Value,
    /// Training pairs, then held-out pairs.
    pub pairs: [&'a [TokenizedPair]; 2],
}

/// The cache key of `inputs`: SHA-256, hex.
pub fn cache_key(inputs: &CacheKeyInputs<'_>) -> Result<String> {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value);
    };
    field("version", &CACHE_VERSION.to_le_bytes());
    for f in model_files(inputs.model)? {
        field("model", hash_file(&f)?.as_bytes());
    }
    if let Some(a) = inputs.adapter {
        for f in model_files(a)? {
            field("adapter", hash_file(&f)?.as_bytes());
        }
    }
    field("data", hash_file(inputs.data)?.as_bytes());
    field("tokenizer", inputs.tokenizer_json.as_bytes());
    field("template", inputs.template.as_bytes());
    field("options", inputs.options.to_string().as_bytes());
    let pairs = serde_json::to_vec(&inputs.pairs)
        .map_err(|e| DpoError::InvalidInput(format!("pairs: {e}")))?;
    field("pairs", &pairs);
    Ok(hex::encode(h.finalize()))
}

/// Where reference log-probs came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// Read from the cache file; no reference pass ran.
    Hit {
        /// The cache file.
        path: PathBuf,
    },
    /// Computed by a reference pass and written to the cache file.
    Computed {
        /// The cache file.
        path: PathBuf,
        /// Pairs the pass ran over.
        pairs: usize,
    },
}

impl CacheStatus {
    /// Whether the cache answered.
    pub fn is_hit(&self) -> bool {
        matches!(self, CacheStatus::Hit { .. })
    }
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    key: String,
    train: Vec<RefLogps>,
    eval: Vec<RefLogps>,
}

/// Reference log-probs for the training and held-out pairs: read from
/// `dir/{key}.json` when it holds them, otherwise computed by `compute` (given both
/// sets) and written there atomically.
pub fn load_or_compute(
    dir: &Path,
    key: &str,
    n_train: usize,
    n_eval: usize,
    compute: impl FnOnce() -> Result<(Vec<RefLogps>, Vec<RefLogps>)>,
) -> Result<(Vec<RefLogps>, Vec<RefLogps>, CacheStatus)> {
    let path = dir.join(format!("{key}.json"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        match serde_json::from_str::<CacheFile>(&text) {
            Ok(c)
                if c.version == CACHE_VERSION
                    && c.key == key
                    && c.train.len() == n_train
                    && c.eval.len() == n_eval =>
            {
                tracing::info!("reference log-probs: cache hit ({})", path.display());
                return Ok((c.train, c.eval, CacheStatus::Hit { path }));
            }
            _ => tracing::warn!(
                "reference log-probs: {} is unusable; recomputing",
                path.display()
            ),
        }
    }
    tracing::info!(
        "reference log-probs: cache miss; one pass over {} pairs",
        n_train + n_eval
    );
    let (train, eval) = compute()?;
    if train.len() != n_train || eval.len() != n_eval {
        return Err(DpoError::InvalidInput(format!(
            "reference pass returned {}+{} pairs for {n_train}+{n_eval}",
            train.len(),
            eval.len()
        )));
    }
    let file = CacheFile {
        version: CACHE_VERSION,
        key: key.to_string(),
        train,
        eval,
    };
    let text = serde_json::to_string(&file).map_err(|e| DpoError::Cache {
        path: path.clone(),
        message: e.to_string(),
    })?;
    sft::atomic_file::write_bytes(&path, text.as_bytes())?;
    let pairs = n_train + n_eval;
    Ok((file.train, file.eval, CacheStatus::Computed { path, pairs }))
}
