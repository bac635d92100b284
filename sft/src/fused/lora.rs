//! The LoRA projection `y = x·Wᵀ (+ b) + s·(drop(x)·Aᵀ)·Bᵀ` as one op over
//! `(x, A, B)` with the frozen `W`, `b`, scale and dropout captured.
//!
//! The dropout mask is not stored: the op keeps the generator's state from before
//! the forward drew it and redraws the identical mask in backward. Backward, with
//! `m` the mask (already divided by `1 - p`):
//! `gx = g·W + s·((g·B)·A)⊙m`, `gA = s·(g·B)ᵀ·(x⊙m)`, `gB = s·gᵀ·((x⊙m)·Aᵀ)`.

use super::{Precomputed, par_rows, with_f32};
use crate::error::Result;
use crate::fused::zeroed;
use crate::linear::dropout_mask;
use crate::rng::Rng;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

/// The custom op; `x (rows, in)`, `a (rank, in)`, `b (out, rank)`.
struct LoraLinear {
    weight: Tensor,
    scale: f64,
    /// The generator state before the mask was drawn, and the drop probability.
    dropout: Option<(Rng, f32)>,
    out: Precomputed,
}

impl LoraLinear {
    /// The forward's dropout mask, redrawn from the saved generator state.
    fn mask(&self, like: &Tensor) -> candle_core::Result<Option<Vec<f32>>> {
        Ok(self.dropout.as_ref().map(|(rng, p)| {
            let mut rng = rng.clone();
            dropout_mask(&mut rng, like.elem_count(), *p)
        }))
    }
}

/// `base + s·add⊙mask` (no mask: `base + s·add`) for same-shape f32 tensors, in one
/// pass over the elements on all cores.
fn add_scaled(
    base: &Tensor,
    s: f32,
    add: &Tensor,
    mask: Option<&[f32]>,
) -> candle_core::Result<Tensor> {
    Tensor::from_vec(
        add_scaled_vec(base, s, add, mask)?,
        base.shape(),
        base.device(),
    )
}

/// [`add_scaled`]'s elements, in a vector of their own.
fn add_scaled_vec(
    base: &Tensor,
    s: f32,
    add: &Tensor,
    mask: Option<&[f32]>,
) -> candle_core::Result<Vec<f32>> {
    let n = base.elem_count();
    let mut out = zeroed(n);
    with_f32(base, |b| {
        with_f32(add, |a| {
            par_rows(n, 1, &mut out, |first, chunk| {
                let (b, a) = (&b[first..], &a[first..]);
                match mask {
                    Some(m) => {
                        let m = &m[first..];
                        for (i, o) in chunk.iter_mut().enumerate() {
                            *o = b[i] + s * a[i] * m[i];
                        }
                    }
                    None => {
                        for (i, o) in chunk.iter_mut().enumerate() {
                            *o = b[i] + s * a[i];
                        }
                    }
                }
            })
        })
    })??;
    Ok(out)
}

/// `x⊙mask` for an f32 tensor and a mask of its element count.
fn times_mask(x: &Tensor, mask: &[f32]) -> candle_core::Result<Tensor> {
    let n = x.elem_count();
    let mut out = zeroed(n);
    with_f32(x, |x| {
        par_rows(n, 1, &mut out, |first, chunk| {
            for (o, (xi, mi)) in chunk.iter_mut().zip(x[first..].iter().zip(&mask[first..])) {
                *o = xi * mi;
            }
        })
    })?;
    Tensor::from_vec(out, x.shape(), x.device())
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        "fused-lora-linear"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.out.take()
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x, a, b, g) = (x.detach(), a.detach(), b.detach(), grad.detach());
        // (rows, rank)
        let gb = g.matmul(&b)?;
        let mask = self.mask(&x)?;
        // (rows, in): g·W + s·((g·B)·A)⊙m in one pass
        let gx = add_scaled(
            &g.matmul(&self.weight)?,
            self.scale as f32,
            &gb.matmul(&a)?,
            mask.as_deref(),
        )?;
        let xd = match &mask {
            Some(m) => times_mask(&x, m)?,
            None => x,
        };
        drop(mask);
        // (rank, in)
        let ga = (gb.t()?.matmul(&xd)? * self.scale)?;
        // (out, rank)
        let low = xd.matmul(&a.t()?)?;
        drop(xd);
        let gbw = (g.t()?.matmul(&low)? * self.scale)?;
        Ok((Some(gx), Some(ga), Some(gbw)))
    }
}

/// `x (rows, in)` → `(rows, out)`: the LoRA projection as one op. `rng` is the
/// dropout generator (`None`: no dropout); it advances exactly as
/// [`crate::linear::dropout`] would.
#[allow(clippy::too_many_arguments)]
pub fn lora_linear(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    a: &Tensor,
    b: &Tensor,
    scale: f64,
    p: f32,
    rng: Option<&mut Rng>,
) -> Result<Tensor> {
    let xd = x.detach();
    let (ad, bd) = (a.detach(), b.detach());
    let mut y = xd.matmul(&weight.detach().t()?)?;
    if let Some(bias) = bias {
        y = y.broadcast_add(&bias.detach())?;
    }
    let (saved, dropped) = match rng {
        Some(rng) if p > 0.0 => {
            let saved = rng.clone();
            let mask = dropout_mask(rng, xd.elem_count(), p);
            (Some(saved), times_mask(&xd, &mask)?)
        }
        _ => (None, xd.clone()),
    };
    let delta = dropped.matmul(&ad.t()?)?.matmul(&bd.t()?)?;
    drop(dropped);
    let out = add_scaled_vec(&y, scale as f32, &delta, None)?;
    let op = LoraLinear {
        weight: weight.detach(),
        scale,
        dropout: saved.map(|r| (r, p)),
        out: Precomputed::from_vec(out, y.shape().clone()),
    };
    Ok(x.apply_op3(a, b, op)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fused::testing::{assert_close, probe_backward, randn};
    use crate::linear::{ForwardCtx, Linear};
    use crate::lora::{LoraAdapter, LoraConfig};
    use candle_core::{Device, Var};

    fn check(bias: bool, p: f32, train: bool) {
        let dev = Device::Cpu;
        let (rows, din, dout, rank) = (6, 10, 7, 3);
        let cfg = LoraConfig {
            rank,
            alpha: 6.0,
            dropout: p,
            ..LoraConfig::default()
        };
        let mut rng = Rng::new(3);
        let ad = LoraAdapter::new(dout, din, &cfg, &mut rng, &dev).unwrap();
        // non-zero B so every gradient path is exercised
        ad.b.set(&randn(0.0, 0.5, (dout, rank))).unwrap();
        let lin = Linear {
            weight: randn(0.0, 1.0, (dout, din)),
            bias: bias.then(|| randn(0.0, 1.0, dout)),
            lora: Some(ad.clone()),
        };
        let x = Var::from_tensor(&randn(0.0, 1.0, (2, rows / 2, din))).unwrap();
        let probe = randn(0.0, 1.0, (2, rows / 2, dout));
        let ctx0 = if train {
            ForwardCtx::train(Rng::new(11))
        } else {
            ForwardCtx::eval()
        };
        let mut c1 = ctx0.clone();
        let mut c2 = ctx0.clone();
        let fused = lin.forward(x.as_tensor(), &mut c1).unwrap();
        let plain = lin.forward_composed(x.as_tensor(), &mut c2).unwrap();
        // the generator advanced identically
        assert_eq!(c1.rng, c2.rng);
        if train && p > 0.0 {
            assert_ne!(c1.rng, ctx0.rng);
        }
        assert_close(&fused, &plain, 1e-5, "value");
        let gf = probe_backward(&fused, &probe);
        let gp = probe_backward(&plain, &probe);
        for (t, what) in [
            (x.as_tensor(), "x"),
            (ad.a.as_tensor(), "A"),
            (ad.b.as_tensor(), "B"),
        ] {
            assert_close(gf.get(t).unwrap(), gp.get(t).unwrap(), 1e-5, what);
        }
    }

    #[test]
    fn matches_composed_lora_with_dropout_and_bias() {
        check(true, 0.3, true);
    }

    #[test]
    fn matches_composed_lora_without_dropout() {
        check(false, 0.3, false);
        check(false, 0.0, true);
    }
}
