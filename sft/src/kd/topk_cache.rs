//! The teacher's top-k log-probabilities per trained position, computed in one pass
//! (`distill kd cache`) so distillation can run without the teacher in memory.
//!
//! Files: `topk.safetensors` with `ids` `(rows, k)` u32, `logprobs` `(rows, k)` f32
//! (log-softmax of the teacher's logits at temperature 1) and `index` `(examples, 4)`
//! u32 (`split`, example index, first row, row count), one row per trained position
//! in example order; and `topk.json` with the format, `k`, the vocabulary size, the
//! teacher and the digest of the prepared data it was computed on. Both are written
//! to temporary names and renamed, the JSON last, so a crash never leaves a cache
//! that looks complete.
//!
//! The approximation: only the k most likely tokens keep their teacher probability;
//! the remaining mass is spread evenly over the other tokens (see
//! [`super::loss::TopKRows`]). Measured with SmolLM2-135M teaching a 4-layer student
//! cut from it (`sft/tests/kd/trainer.rs`), k = 64 gives the held-out loss within
//! 0.2% of the exact teacher's for the forward KL and 0.3% for the JSD (β = 0.5);
//! the documented tolerance is 1%. The reverse KL is a poor fit for the cache: it
//! weighs tokens by the student's probability, and where the student puts mass
//! outside the teacher's top k the flattened tail overstates the teacher's
//! log-probability (31% low on that untrained student). Use the forward KL or the
//! JSD with a cache, or the teacher model for the reverse KL.

use super::loss::TopKRows;
use crate::data::{Example, collate};
use crate::error::{Result, SftError};
use crate::linear::ForwardCtx;
use crate::loss::next_token_rows;
use crate::model::CausalLm;
use crate::objective::{ExampleKey, Split};
use crate::prepare::Prepared;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Version tag of the cache files.
pub const FORMAT: &str = "distill-kd-topk.v1";
/// The tensor file inside a cache directory.
pub const TENSORS_FILE: &str = "topk.safetensors";
/// The description file inside a cache directory.
pub const META_FILE: &str = "topk.json";

/// What a cache was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheMeta {
    /// [`FORMAT`].
    pub format: String,
    /// Tokens kept per position.
    pub k: usize,
    /// The teacher's vocabulary size.
    pub vocab: usize,
    /// The teacher (its path as given).
    pub teacher: String,
    /// [`Prepared::digest`] of the examples.
    pub data_digest: String,
    /// Cached positions.
    pub rows: usize,
}

/// Top-k teacher log-probabilities for every trained position of a prepared data set.
#[derive(Debug, Clone)]
pub struct TopKCache {
    /// What it was computed from.
    pub meta: CacheMeta,
    index: HashMap<(Split, usize), (usize, usize)>,
    ids: Vec<u32>,
    logprobs: Vec<f32>,
}

/// The `k` largest entries of a log-softmax row, as (ids, log-probs), largest first.
fn top_k_row(logits: &[f32], k: usize) -> (Vec<u32>, Vec<f32>) {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = m as f64
        + logits
            .iter()
            .map(|&x| ((x - m) as f64).exp())
            .sum::<f64>()
            .ln();
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]);
    if k < order.len() {
        order.select_nth_unstable_by(k, by_logit);
        order.truncate(k);
    }
    order.sort_by(by_logit);
    let lps = order
        .iter()
        .map(|&i| (logits[i as usize] as f64 - lse) as f32)
        .collect();
    (order, lps)
}

impl TopKCache {
    /// Runs `teacher` over every example of `prepared` (one at a time) and keeps the
    /// top `k` log-probabilities of each trained position. `progress(done, total)` is
    /// called after each example.
    pub fn compute(
        teacher: &CausalLm,
        teacher_name: &str,
        prepared: &Prepared,
        k: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        let vocab = teacher.config.vocab_size;
        if k == 0 || k > vocab {
            return Err(SftError::InvalidArgument(format!(
                "top-k {k} must be in 1..={vocab}"
            )));
        }
        let all: Vec<(Split, usize, &Example)> = prepared
            .train
            .iter()
            .enumerate()
            .map(|(i, e)| (Split::Train, i, e))
            .chain(
                prepared
                    .eval
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (Split::Eval, i, e)),
            )
            .collect();
        let (mut ids, mut logprobs) = (Vec::new(), Vec::new());
        let mut index = HashMap::new();
        let mut rows = 0usize;
        for (done, (split, i, e)) in all.iter().enumerate() {
            let b = collate(&[*e], 0, teacher.device())?;
            let logits = teacher
                .forward(
                    &b.input_ids,
                    Some(&b.attention_mask),
                    Some(&b.position_ids),
                    &mut ForwardCtx::eval(),
                )?
                .to_dtype(DType::F32)?
                .squeeze(0)?;
            let (_, weights, n) = next_token_rows(&b.input_ids, &b.loss_mask)?;
            let dense = logits.to_vec2::<f32>()?;
            for (t, row) in dense.iter().enumerate() {
                if weights[t] != 0.0 {
                    let (i_, l_) = top_k_row(row, k);
                    ids.extend(i_);
                    logprobs.extend(l_);
                }
            }
            index.insert((*split, *i), (rows, n));
            rows += n;
            progress(done + 1, all.len());
        }
        Ok(TopKCache {
            meta: CacheMeta {
                format: FORMAT.into(),
                k,
                vocab,
                teacher: teacher_name.into(),
                data_digest: prepared.digest(),
                rows,
            },
            index,
            ids,
            logprobs,
        })
    }

    /// Writes `dir/topk.safetensors` and then `dir/topk.json`, each atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let k = self.meta.k;
        let mut index: Vec<(Split, usize, usize, usize)> = self
            .index
            .iter()
            .map(|(&(s, i), &(start, n))| (s, i, start, n))
            .collect();
        index.sort();
        let flat: Vec<u32> = index
            .iter()
            .flat_map(|&(s, i, start, n)| {
                [
                    u32::from(s == Split::Eval),
                    i as u32,
                    start as u32,
                    n as u32,
                ]
            })
            .collect();
        let rows = self.meta.rows;
        let cpu = Device::Cpu;
        let tensors = HashMap::from([
            (
                "ids".to_string(),
                Tensor::from_slice(&self.ids, (rows, k), &cpu)?,
            ),
            (
                "logprobs".to_string(),
                Tensor::from_slice(&self.logprobs, (rows, k), &cpu)?,
            ),
            (
                "index".to_string(),
                Tensor::from_vec(flat, (index.len(), 4), &cpu)?,
            ),
        ]);
        crate::atomic_file::write_safetensors(&dir.join(TENSORS_FILE), &tensors)?;
        crate::atomic_file::write_json_pretty(&dir.join(META_FILE), &self.meta)
    }

    /// Reads a cache directory written by [`TopKCache::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let bad = |path: PathBuf, message: String| SftError::Checkpoint { path, message };
        let meta_path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&meta_path).map_err(|source| SftError::Io {
            path: meta_path.clone(),
            source,
        })?;
        let meta: CacheMeta = serde_json::from_str(&text)
            .map_err(|e| bad(meta_path.clone(), format!("not a top-k cache: {e}")))?;
        if meta.format != FORMAT {
            return Err(bad(
                meta_path,
                format!("format {} (expected {FORMAT})", meta.format),
            ));
        }
        let path = dir.join(TENSORS_FILE);
        let mut t = candle_core::safetensors::load(&path, &Device::Cpu)
            .map_err(|e| bad(path.clone(), e.to_string()))?;
        let mut take = |name: &str| {
            t.remove(name)
                .ok_or_else(|| bad(path.clone(), format!("no `{name}` tensor")))
        };
        let (ids_t, lp_t, index_t) = (take("ids")?, take("logprobs")?, take("index")?);
        if ids_t.dims() != [meta.rows, meta.k] || lp_t.dims() != ids_t.dims() {
            return Err(bad(
                path,
                format!(
                    "tensors {:?}/{:?} do not match {} rows of k = {}",
                    ids_t.dims(),
                    lp_t.dims(),
                    meta.rows,
                    meta.k
                ),
            ));
        }
        let ids = ids_t.flatten_all()?.to_vec1::<u32>()?;
        if let Some(&bad_id) = ids.iter().find(|&&i| i as usize >= meta.vocab) {
            return Err(bad(
                path,
                format!("token id {bad_id} outside the vocabulary"),
            ));
        }
        let logprobs = lp_t.flatten_all()?.to_vec1::<f32>()?;
        let mut index = HashMap::new();
        for r in index_t.to_vec2::<u32>()? {
            let split = if r[0] == 0 { Split::Train } else { Split::Eval };
            let (start, n) = (r[2] as usize, r[3] as usize);
            if start + n > meta.rows {
                return Err(bad(path, "index points past the rows".into()));
            }
            index.insert((split, r[1] as usize), (start, n));
        }
        Ok(TopKCache {
            meta,
            index,
            ids,
            logprobs,
        })
    }

    /// Checks that the cache was computed on `prepared` and for a vocabulary of
    /// `vocab` tokens.
    pub fn check_matches(&self, prepared: &Prepared, vocab: usize, dir: &Path) -> Result<()> {
        let bad = |message: String| SftError::Checkpoint {
            path: dir.to_path_buf(),
            message,
        };
        if self.meta.vocab != vocab {
            return Err(bad(format!(
                "the cache is over {} tokens, the student has {vocab}",
                self.meta.vocab
            )));
        }
        if self.meta.data_digest != prepared.digest() {
            return Err(bad(
                "the cache was computed on other data or other preparation settings (max-len, eval-fraction, seed, tokenizer); run `distill kd cache` again".into(),
            ));
        }
        Ok(())
    }

    /// The teacher rows of a collated micro-batch: `keys` name its examples,
    /// `weights` (one per `(batch, seq)` position, as
    /// [`next_token_rows`] gives them) mark the trained positions. Untrained rows are
    /// filled with placeholders the loss skips.
    pub fn rows(&self, keys: &[ExampleKey], weights: &[f32], seq: usize) -> Result<TopKRows> {
        let k = self.meta.k;
        let mut ids = vec![0u32; weights.len() * k];
        let mut logprobs = vec![0f32; weights.len() * k];
        for (b, key) in keys.iter().enumerate() {
            let Some(key) = key else {
                return Err(SftError::InvalidArgument(
                    "a top-k cache only covers the data set; on-policy samples need a teacher model".into(),
                ));
            };
            let &(start, n) = self.index.get(key).ok_or_else(|| {
                SftError::InvalidArgument(format!("example {key:?} is not in the top-k cache"))
            })?;
            let mut j = 0usize;
            for t in 0..seq {
                let r = b * seq + t;
                if weights.get(r).copied().unwrap_or(0.0) == 0.0 {
                    continue;
                }
                if j >= n {
                    return Err(SftError::InvalidArgument(format!(
                        "example {key:?} has more trained positions than the cache's {n}"
                    )));
                }
                let src = (start + j) * k;
                ids[r * k..(r + 1) * k].copy_from_slice(&self.ids[src..src + k]);
                logprobs[r * k..(r + 1) * k].copy_from_slice(&self.logprobs[src..src + k]);
                j += 1;
            }
            if j != n {
                return Err(SftError::InvalidArgument(format!(
                    "example {key:?} has {j} trained positions, the cache {n}"
                )));
            }
        }
        Ok(TopKRows { k, ids, logprobs })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::top_k_row;

    #[test]
    fn top_k_picks_the_largest_as_log_probs() {
        // logits [0, ln 2, ln 4, 0] → probs [1, 2, 4, 1] / 8
        let z = [0.0f32, 2f32.ln(), 4f32.ln(), 0.0];
        let (ids, lps) = top_k_row(&z, 2);
        assert_eq!(ids, vec![2, 1]);
        assert!((lps[0] - 0.5f32.ln()).abs() < 1e-6);
        assert!((lps[1] - 0.25f32.ln()).abs() < 1e-6);
    }
}
