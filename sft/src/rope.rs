//! Rotary position embeddings built from differentiable ops (candle's fused rotary
//! kernels have no backward pass), with Llama 3 and linear frequency scaling; on the
//! CPU in f32 the rotation is the fused op [`crate::fused::rope`].

use crate::config::Config;
use crate::error::Result;
use candle_core::{D, DType, Device, Tensor};

/// The per-pair inverse frequencies `1 / theta^(2i/d)`, scaled as `rope_scaling` asks.
#[derive(Debug, Clone)]
pub struct Rope {
    /// `(head_dim / 2,)` f32.
    inv_freq: Tensor,
}

/// Computes the inverse frequencies in f64, as Hugging Face's `_compute_*_parameters`
/// describe them.
pub fn inv_freq(cfg: &Config) -> Vec<f64> {
    let dim = cfg.head_dim();
    let base: Vec<f64> = (0..dim)
        .step_by(2)
        .map(|i| 1.0 / cfg.rope_theta.powf(i as f64 / dim as f64))
        .collect();
    let Some(s) = &cfg.rope_scaling else {
        return base;
    };
    match s.rope_type.as_str() {
        "linear" => base.iter().map(|f| f / s.factor).collect(),
        "llama3" => {
            let old = s.original_max_position_embeddings as f64;
            let low_wavelen = old / s.low_freq_factor;
            let high_wavelen = old / s.high_freq_factor;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / s.factor
                    } else {
                        let smooth = (old / wavelen - s.low_freq_factor)
                            / (s.high_freq_factor - s.low_freq_factor);
                        (1.0 - smooth) * f / s.factor + smooth * f
                    }
                })
                .collect()
        }
        _ => base,
    }
}

impl Rope {
    /// The rotary table for `cfg` on `device`.
    pub fn new(cfg: &Config, device: &Device) -> Result<Self> {
        let f: Vec<f32> = inv_freq(cfg).into_iter().map(|x| x as f32).collect();
        let n = f.len();
        Ok(Rope {
            inv_freq: Tensor::from_vec(f, n, device)?,
        })
    }

    /// `cos` and `sin` for the given positions, each `(batch, seq, head_dim)`, laid
    /// out as Hugging Face does (`cat(freqs, freqs)`).
    pub fn cos_sin(&self, position_ids: &Tensor) -> Result<(Tensor, Tensor)> {
        // (batch, seq) -> (batch, seq, 1)
        let pos = position_ids.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
        // (batch, seq, head_dim / 2)
        let freqs = pos.broadcast_mul(&self.inv_freq.reshape((1, 1, ()))?)?;
        // (batch, seq, head_dim)
        let emb = Tensor::cat(&[&freqs, &freqs], D::Minus1)?;
        Ok((emb.cos()?, emb.sin()?))
    }
}

/// `cat(-x2, x1)` over the last dimension.
fn rotate_half(x: &Tensor) -> Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    Ok(Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?)
}

/// Rotates `x` `(batch, heads, seq, head_dim)` by `cos`/`sin` `(batch, seq, head_dim)`.
/// f32 CPU tensors go through the fused op [`crate::fused::rope`].
pub fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    if crate::fused::fusable(&[x, cos, sin]) {
        return crate::fused::rope::rope(x, cos, sin);
    }
    apply_composed(x, cos, sin)
}

/// [`apply`] from differentiable ops: the path off the CPU and the fused op's test
/// reference.
pub(crate) fn apply_composed(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    // (batch, 1, seq, head_dim)
    let cos = cos.unsqueeze(1)?;
    let sin = sin.unsqueeze(1)?;
    let rotated = rotate_half(x)?;
    Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
}
