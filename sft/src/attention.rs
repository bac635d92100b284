//! Grouped-query self-attention with RoPE and an additive mask. The core
//! `softmax(q·kᵀ/√d + bias)·v` is the fused op [`crate::fused::attention`] on the CPU
//! in f32, and [`crate::recompute::attention`] (candle's ops, recomputed in backward)
//! elsewhere.

use crate::error::Result;
use crate::linear::{ForwardCtx, Linear};
use crate::rope;
use candle_core::Tensor;

/// Self-attention with grouped-query heads.
#[derive(Debug, Clone)]
pub struct Attention {
    /// `q_proj`: `(heads * head_dim, hidden)`.
    pub q_proj: Linear,
    /// `k_proj`: `(kv_heads * head_dim, hidden)`.
    pub k_proj: Linear,
    /// `v_proj`: `(kv_heads * head_dim, hidden)`.
    pub v_proj: Linear,
    /// `o_proj`: `(hidden, heads * head_dim)`.
    pub o_proj: Linear,
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
}

impl Attention {
    /// `(batch, seq, hidden)` -> `(batch, seq, hidden)`.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        bias: &Tensor,
        ctx: &mut ForwardCtx,
    ) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        // (batch, heads, seq, head_dim)
        let q = self
            .q_proj
            .forward(x, ctx)?
            .reshape((b, s, nh, hd))?
            .transpose(1, 2)?;
        let k = self
            .k_proj
            .forward(x, ctx)?
            .reshape((b, s, nkv, hd))?
            .transpose(1, 2)?;
        let v = self
            .v_proj
            .forward(x, ctx)?
            .reshape((b, s, nkv, hd))?
            .transpose(1, 2)?;
        let q = rope::apply(&q.contiguous()?, cos, sin)?;
        let k = rope::apply(&k.contiguous()?, cos, sin)?;
        // GQA: kv head j serves query heads j * rep .. (j + 1) * rep
        let k = repeat_kv(&k, nh / nkv)?;
        let v = repeat_kv(&v.contiguous()?, nh / nkv)?;
        let scale = 1.0 / (hd as f64).sqrt();
        // (batch, heads, seq, head_dim)
        let out = if crate::fused::fusable(&[&q, &k, &v, bias]) {
            crate::fused::attention::attention(&q, &k, &v, bias, scale)?
        } else {
            crate::recompute::attention(&q, &k, &v, bias, scale)?
        };
        // (batch, heads, seq, head_dim) -> (batch, seq, heads * head_dim)
        let out = out.transpose(1, 2)?.reshape((b, s, nh * hd))?;
        self.o_proj.forward(&out, ctx)
    }
}

/// `softmax(q·kᵀ·scale + bias)·v` from differentiable ops (the scores and every
/// softmax step stay in the graph): the reference both faster paths are tested against.
#[cfg(test)]
fn core_composed(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor, scale: f64) -> Result<Tensor> {
    // (batch, heads, seq, seq)
    let scores = (q.matmul(&k.t()?)? * scale)?;
    let probs = crate::ops::softmax_last_dim(&scores.broadcast_add(bias)?)?;
    Ok(probs.matmul(v)?)
}

/// `(batch, kv_heads, seq, d)` -> `(batch, kv_heads * rep, seq, d)`, each kv head
/// repeated `rep` times in place (Hugging Face's `repeat_kv`).
fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    if crate::fused::fusable(&[x]) {
        return crate::fused::repeat_kv::repeat_kv(x, rep);
    }
    let (b, kv, s, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .broadcast_as((b, kv, rep, s, d))?
        .contiguous()?
        .reshape((b, kv * rep, s, d))?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fused::testing::{assert_close, probe_backward};
    use crate::lora::{LoraAdapter, LoraConfig};
    use crate::mask::attention_bias;
    use crate::rng::Rng;
    use candle_core::{Device, Var};

    /// Seeded normal samples (reproducible, unlike `Tensor::randn`).
    fn randn<S: Into<candle_core::Shape>>(
        rng: &mut Rng,
        shape: S,
        std: f32,
        dev: &Device,
    ) -> Tensor {
        let shape = shape.into();
        Tensor::from_vec(rng.normal_vec(shape.elem_count(), std), shape, dev).unwrap()
    }

    /// A LoRA projection with a non-zero `B`, so every gradient path is live.
    fn proj(out: usize, inp: usize, rng: &mut Rng, dev: &Device) -> Linear {
        let cfg = LoraConfig {
            rank: 2,
            dropout: 0.2,
            ..LoraConfig::default()
        };
        let ad = LoraAdapter::new(out, inp, &cfg, rng, dev).unwrap();
        ad.b.set(&randn(rng, (out, 2), 0.3, dev)).unwrap();
        Linear {
            weight: randn(rng, (out, inp), 0.3, dev),
            bias: Some(randn(rng, out, 0.1, dev)),
            lora: Some(ad),
        }
    }

    /// The whole attention block, every piece composed (what this file computed
    /// before the fused ops).
    fn composed(
        a: &Attention,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        bias: &Tensor,
        ctx: &mut ForwardCtx,
    ) -> Tensor {
        let (b, s, _) = x.dims3().unwrap();
        let (nh, nkv, hd) = (a.heads, a.kv_heads, a.head_dim);
        let split =
            |t: Tensor, n: usize| t.reshape((b, s, n, hd)).unwrap().transpose(1, 2).unwrap();
        let q = split(a.q_proj.forward_composed(x, ctx).unwrap(), nh);
        let k = split(a.k_proj.forward_composed(x, ctx).unwrap(), nkv);
        let v = split(a.v_proj.forward_composed(x, ctx).unwrap(), nkv);
        let q = rope::apply_composed(&q.contiguous().unwrap(), cos, sin).unwrap();
        let k = rope::apply_composed(&k.contiguous().unwrap(), cos, sin).unwrap();
        let k = repeat_kv(&k, nh / nkv).unwrap();
        let v = repeat_kv(&v.contiguous().unwrap(), nh / nkv).unwrap();
        let out = core_composed(&q, &k, &v, bias, 1.0 / (hd as f64).sqrt())
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b, s, nh * hd))
            .unwrap();
        a.o_proj.forward_composed(&out, ctx).unwrap()
    }

    #[test]
    fn fused_gqa_attention_with_lora_matches_the_composed_block() {
        let dev = Device::Cpu;
        let (b, s, hidden, nh, nkv, hd) = (2, 5, 12, 4, 2, 4);
        let mut rng = Rng::new(5);
        let attn = Attention {
            q_proj: proj(nh * hd, hidden, &mut rng, &dev),
            k_proj: proj(nkv * hd, hidden, &mut rng, &dev),
            v_proj: proj(nkv * hd, hidden, &mut rng, &dev),
            o_proj: proj(hidden, nh * hd, &mut rng, &dev),
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
        };
        let cfg: crate::Config = serde_json::from_value(serde_json::json!({
            "model_type": "llama", "hidden_size": 16, "intermediate_size": 8,
            "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
            "vocab_size": 10
        }))
        .unwrap();
        // row 0 packs two samples; row 1 ends in padding
        let pos = Tensor::new(&[[0u32, 1, 2, 0, 1], [0, 1, 2, 3, 4]], &dev).unwrap();
        let am = Tensor::new(&[[1u32, 1, 1, 1, 1], [1, 1, 1, 0, 0]], &dev).unwrap();
        let bias = attention_bias(Some(&am), &pos, &dev).unwrap();
        let (cos, sin) = rope::Rope::new(&cfg, &dev).unwrap().cos_sin(&pos).unwrap();
        let x = Var::from_tensor(&randn(&mut rng, (b, s, hidden), 1.0, &dev)).unwrap();
        let probe = randn(&mut rng, (b, s, hidden), 1.0, &dev);
        let mut c1 = ForwardCtx::train(Rng::new(9));
        let mut c2 = c1.clone();
        let fused = attn
            .forward(x.as_tensor(), &cos, &sin, &bias, &mut c1)
            .unwrap();
        let plain = composed(&attn, x.as_tensor(), &cos, &sin, &bias, &mut c2);
        assert_eq!(c1.rng, c2.rng);
        // Each op matches within 1e-5 (see `crate::fused`); through this chain of four
        // LoRA projections, rope and attention the f32 rounding of the reordered sums
        // compounds to about 2e-5 on the adapters' gradients, hence 1e-4 here.
        let tol = 1e-4;
        assert_close(&fused, &plain, tol, "value");
        let gf = probe_backward(&fused, &probe);
        let gp = probe_backward(&plain, &probe);
        assert_close(
            gf.get(x.as_tensor()).unwrap(),
            gp.get(x.as_tensor()).unwrap(),
            tol,
            "x",
        );
        for p in [&attn.q_proj, &attn.k_proj, &attn.v_proj, &attn.o_proj] {
            let l = p.lora.as_ref().unwrap();
            for t in [l.a.as_tensor(), l.b.as_tensor()] {
                assert_close(gf.get(t).unwrap(), gp.get(t).unwrap(), tol, "lora");
            }
        }
    }
}
