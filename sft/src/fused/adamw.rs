//! AdamW's update for f32 CPU parameters, in place and on all cores: the moments and
//! the parameter are rewritten where they are, with no temporary tensors. The
//! arithmetic is exactly that of the composed candle ops in [`crate::optim`] (each
//! scalar rounded to f32 as candle's `affine` does, products rounded before sums), so
//! both paths give the same bits.

use super::{cpu_slice, cpu_slice_mut, par_rows};
use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Tensor};

/// `dst = keep·dst + take·g` (`square`: `take·(g·g)`): a moment update.
struct Moment {
    keep: f32,
    take: f32,
    square: bool,
}

/// `p = decay·p − step·m / (√v·inv_bc2 + eps)`: decoupled decay and the Adam step.
struct Update {
    decay: f32,
    step: f32,
    inv_bc2: f32,
    eps: f32,
}

/// Fails unless every source has the destination's element count.
fn same_len(n: usize, srcs: &[&[f32]]) -> candle_core::Result<()> {
    if srcs.iter().all(|s| s.len() == n) {
        Ok(())
    } else {
        Err(candle_core::Error::Msg(
            "fused adamw: operands of different sizes".into(),
        ))
    }
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "fused-adamw-moment"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
        let (d, g) = (cpu_slice_mut(dst, dst_l)?, cpu_slice(gs, gl)?);
        same_len(d.len(), &[g])?;
        let (keep, take, square) = (self.keep, self.take, self.square);
        par_rows(d.len(), 1, d, |first, chunk| {
            let g = &g[first..first + chunk.len()];
            for (x, &gi) in chunk.iter_mut().zip(g) {
                let t = if square { gi * gi } else { gi };
                *x = *x * keep + t * take;
            }
        });
        Ok(())
    }
}

impl InplaceOp3 for Update {
    fn name(&self) -> &'static str {
        "fused-adamw-update"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        ms: &CpuStorage,
        ml: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> candle_core::Result<()> {
        let p = cpu_slice_mut(dst, dst_l)?;
        let (m, v) = (cpu_slice(ms, ml)?, cpu_slice(vs, vl)?);
        same_len(p.len(), &[m, v])?;
        let (decay, step, inv_bc2, eps) = (self.decay, self.step, self.inv_bc2, self.eps);
        par_rows(p.len(), 1, p, |first, chunk| {
            let n = chunk.len();
            let (m, v) = (&m[first..first + n], &v[first..first + n]);
            for ((x, &mi), &vi) in chunk.iter_mut().zip(m).zip(v) {
                let denom = vi.sqrt() * inv_bc2 + eps;
                *x = *x * decay - (mi / denom) * step;
            }
        });
        Ok(())
    }
}

/// Whether the in-place path applies: f32 CPU tensors, contiguous, of one shape.
pub fn applies(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) -> bool {
    super::fusable(&[p, g, m, v])
        && [p, g, m, v]
            .iter()
            .all(|t| t.is_contiguous() && t.dims() == p.dims())
}

/// The scalars of one AdamW step, each as the composed ops round it to f32.
#[derive(Debug, Clone, Copy)]
pub struct StepScalars {
    /// `1 − lr·weight_decay`.
    pub decay: f64,
    /// `β₁`.
    pub beta1: f64,
    /// `β₂`.
    pub beta2: f64,
    /// `1 / √(1 − β₂ᵗ)`.
    pub inv_bc2: f64,
    /// `ε`.
    pub eps: f64,
    /// `lr / (1 − β₁ᵗ)`.
    pub step: f64,
}

/// One AdamW step on `p` (a variable's tensor) with gradient `g` and moments `m`, `v`,
/// all updated in place. `m` and `v` must not share storage with anything else.
pub fn step(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    s: StepScalars,
) -> candle_core::Result<()> {
    let (b1, b2) = (s.beta1, s.beta2);
    m.inplace_op2(
        g,
        &Moment {
            keep: b1 as f32,
            take: (1.0 - b1) as f32,
            square: false,
        },
    )?;
    v.inplace_op2(
        g,
        &Moment {
            keep: b2 as f32,
            take: (1.0 - b2) as f32,
            square: true,
        },
    )?;
    p.inplace_op3(
        m,
        v,
        &Update {
            decay: s.decay as f32,
            step: s.step as f32,
            inv_bc2: s.inv_bc2 as f32,
            eps: s.eps as f32,
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fused::testing::randn;

    /// The composed candle ops of `crate::optim` (one step), on fresh tensors.
    fn composed(
        p: &Tensor,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
        s: StepScalars,
    ) -> (Tensor, Tensor, Tensor) {
        let p = (p * s.decay).unwrap();
        let m = ((m * s.beta1).unwrap() + (g * (1.0 - s.beta1)).unwrap()).unwrap();
        let v = ((v * s.beta2).unwrap() + (g.sqr().unwrap() * (1.0 - s.beta2)).unwrap()).unwrap();
        let denom = ((v.sqrt().unwrap() * s.inv_bc2).unwrap() + s.eps).unwrap();
        let update = (m.div(&denom).unwrap() * s.step).unwrap();
        ((p - update).unwrap(), m, v)
    }

    /// Bit equality: the fused step is the composed ops' arithmetic, not an
    /// approximation of it (the PyTorch parity of the step is in `tests/sft/parity.rs`).
    #[test]
    fn in_place_step_equals_the_composed_ops_bit_for_bit() {
        let shape = (37, 129);
        let p = randn(0.0, 1.0, shape).copy().unwrap();
        let (m, v) = (
            randn(0.0, 0.1, shape),
            randn(0.0, 0.1, shape).sqr().unwrap(),
        );
        let (m, v) = (m.copy().unwrap(), v.copy().unwrap());
        let mut want = (p.copy().unwrap(), m.copy().unwrap(), v.copy().unwrap());
        for t in 1..=3 {
            let g = randn(0.0, 0.5, shape);
            let (lr, wd, b1, b2) = (1e-2, 0.1, 0.9, 0.999);
            let s = StepScalars {
                decay: 1.0 - lr * wd,
                beta1: b1,
                beta2: b2,
                inv_bc2: 1.0 / (1.0 - f64::powi(b2, t)).sqrt(),
                eps: 1e-8,
                step: lr / (1.0 - f64::powi(b1, t)),
            };
            assert!(applies(&p, &g, &m, &v));
            step(&p, &g, &m, &v, s).unwrap();
            want = composed(&want.0, &g, &want.1, &want.2, s);
            for (got, want, what) in [(&p, &want.0, "p"), (&m, &want.1, "m"), (&v, &want.2, "v")] {
                let (a, b) = (
                    got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                );
                assert!(
                    a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{what}, step {t}"
                );
            }
        }
    }
}
