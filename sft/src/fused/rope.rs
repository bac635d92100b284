//! Rotary embedding `y = x⊙cos + rotate_half(x)⊙sin` as one op over `x`
//! `(batch, heads, seq, d)` with `cos`/`sin` `(batch, seq, d)` captured, by plain
//! loops on all cores. `rotate_half(x) = cat(−x₂, x₁)`; its transpose is `cat(x₂, −x₁)`, so
//! backward is `gx = g⊙cos + cat((g⊙sin)₂, −(g⊙sin)₁)` (the rotation by −θ).

use super::{cpu_slice, f32_vec, par_rows, with_f32};
use crate::error::Result;
use crate::fused::zeroed;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

/// The custom op with the tables as contiguous rows of `d`.
struct Rotary {
    cos: Vec<f32>,
    sin: Vec<f32>,
    heads: usize,
    seq: usize,
    d: usize,
}

impl Rotary {
    /// `out = x⊙cos + sign·rotate_half(x)⊙sin` (`sign` −1 for the transpose).
    fn rotate(&self, x: &[f32], sign: f32) -> Vec<f32> {
        let (h, s, d) = (self.heads, self.seq, self.d);
        let half = d / 2;
        let mut out = zeroed(x.len());
        par_rows(x.len() / d.max(1), d, &mut out, |first, chunk| {
            for (i, o) in chunk.chunks_mut(d).enumerate() {
                let row = first + i;
                let xr = &x[row * d..(row + 1) * d];
                let b = row / (h * s);
                let t = row % s;
                let base = (b * s + t) * d;
                let (c, sn) = (&self.cos[base..base + d], &self.sin[base..base + d]);
                for j in 0..half {
                    o[j] = xr[j] * c[j] - sign * xr[j + half] * sn[j];
                    o[j + half] = xr[j + half] * c[j + half] + sign * xr[j] * sn[j + half];
                }
            }
        });
        out
    }
}

impl CustomOp1 for Rotary {
    fn name(&self) -> &'static str {
        "fused-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s, l)?;
        Ok((CpuStorage::F32(self.rotate(x, 1.0)), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // y_j = x_j c_j − x_{j+h} s_j (j < h), y_{j+h} = x_{j+h} c_{j+h} + x_j s_{j+h}:
        // gx_j = g_j c_j + g_{j+h} s_{j+h}, gx_{j+h} = g_{j+h} c_{j+h} − g_j s_j
        let (h, s, d) = (self.heads, self.seq, self.d);
        let half = d / 2;
        let gx = with_f32(grad, |g| {
            let mut out = zeroed(g.len());
            for (row, (o, gr)) in out.chunks_mut(d).zip(g.chunks(d)).enumerate() {
                let b = row / (h * s);
                let t = row % s;
                let base = (b * s + t) * d;
                let (c, sn) = (&self.cos[base..base + d], &self.sin[base..base + d]);
                for j in 0..half {
                    o[j] = gr[j] * c[j] + gr[j + half] * sn[j + half];
                    o[j + half] = gr[j + half] * c[j + half] - gr[j] * sn[j];
                }
            }
            out
        })?;
        Ok(Some(Tensor::from_vec(gx, x.shape(), x.device())?))
    }
}

/// Rotates f32 CPU `x (batch, heads, seq, d)` by `cos`/`sin` `(batch, seq, d)`.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, heads, seq, d) = x.dims4()?;
    if cos.dims() != [b, seq, d] || sin.dims() != [b, seq, d] || d % 2 != 0 {
        return Err(crate::SftError::InvalidArgument(format!(
            "rope: x {:?} with cos {:?} and sin {:?}",
            x.dims(),
            cos.dims(),
            sin.dims()
        )));
    }
    let op = Rotary {
        cos: f32_vec(cos)?,
        sin: f32_vec(sin)?,
        heads,
        seq,
        d,
    };
    Ok(x.contiguous()?.apply_op1(op)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;
    use crate::fused::testing::{assert_close, probe_backward, randn};
    use crate::rope::{Rope, apply_composed};
    use candle_core::{Device, Var};

    #[test]
    fn matches_composed_rope_with_packed_positions() {
        let dev = Device::Cpu;
        let cfg: Config = serde_json::from_value(serde_json::json!({
            "model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 10,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0
        }))
        .unwrap();
        let rope_t = Rope::new(&cfg, &dev).unwrap();
        let pos = Tensor::new(&[[0u32, 1, 2, 0, 1], [0, 1, 2, 3, 4]], &dev).unwrap();
        let (cos, sin) = rope_t.cos_sin(&pos).unwrap();
        let x = Var::from_tensor(&randn(0.0, 1.0, (2, 3, 5, 8))).unwrap();
        let probe = randn(0.0, 1.0, (2, 3, 5, 8));
        let xt = x.as_tensor();
        let fused = rope(xt, &cos, &sin).unwrap();
        let plain = apply_composed(xt, &cos, &sin).unwrap();
        assert_close(&fused, &plain, 1e-5, "value");
        let gf = probe_backward(&fused, &probe);
        let gp = probe_backward(&plain, &probe);
        assert_close(gf.get(xt).unwrap(), gp.get(xt).unwrap(), 1e-5, "x");
    }
}
