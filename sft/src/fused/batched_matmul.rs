//! Batched matrix products for the attention core: one single-threaded `gemm` per
//! matrix of the batch, the matrices spread over rayon's pool.
//!
//! candle's CPU `matmul` runs a batch as a loop of `gemm` calls, each split over all
//! threads. For attention's many small products (`(seq × head_dim)` per head) every
//! call pays a fork-join and the split matrices are too small to keep both cores busy:
//! measured here, 36 products of `256×64 · 64×256` ran at 75–110 GFLOP/s that way and
//! at 100–150 GFLOP/s one matrix per thread. Operands are strided views, so transposes
//! (`kᵀ`, `Pᵀ`, `dSᵀ`) cost no copy.

use super::with_f32;
use crate::fused::zeroed;
use candle_core::Tensor;
use rayon::prelude::*;

/// One operand: `batch` matrices of `rows × cols` in `data`, matrix `i` starting at
/// `i * batch_stride`, element `(r, c)` at `r * row_stride + c * col_stride` from there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mats<'a> {
    data: &'a [f32],
    batch_stride: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mats<'a> {
    /// Row-major contiguous `rows × cols` matrices packed one after another.
    pub(crate) fn packed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mats {
            data,
            batch_stride: rows * cols,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transposed view of every matrix (no copy).
    pub(crate) fn t(self) -> Self {
        Mats {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Whether matrix `batch - 1`'s last element lies inside `data`.
    fn covers(&self, batch: usize) -> bool {
        if batch == 0 || self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (batch - 1) * self.batch_stride
            + (self.rows - 1) * self.row_stride
            + (self.cols - 1) * self.col_stride;
        last < self.data.len()
    }
}

/// `out[i] = a[i] · b[i]` for `i < batch`, packed row-major `(batch, a.rows, b.cols)`.
pub(crate) fn bmm(a: Mats<'_>, b: Mats<'_>, batch: usize) -> candle_core::Result<Vec<f32>> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k {
        return Err(candle_core::Error::Msg(format!(
            "batched matmul: inner sizes differ ({m}×{k} · {}×{n})",
            b.rows
        )));
    }
    if !a.covers(batch) || !b.covers(batch) {
        return Err(candle_core::Error::Msg(
            "batched matmul: an operand's strides reach past its data".into(),
        ));
    }
    let mut out = zeroed(batch * m * n);
    if m == 0 || n == 0 {
        return Ok(out);
    }
    let one = |i: usize, dst: &mut [f32], par: gemm::Parallelism| {
        debug_assert_eq!(dst.len(), m * n);
        #[allow(unsafe_code)]
        // SAFETY: `covers` checked that every element gemm reads of matrix `i` of `a`
        // and `b` (offsets up to (rows-1)·row_stride + (cols-1)·col_stride past
        // i·batch_stride) lies inside their slices; `dst` is exactly this product's
        // m·n row-major output, borrowed mutably by this call alone.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.data.as_ptr().add(i * a.batch_stride),
                a.col_stride as isize,
                a.row_stride as isize,
                b.data.as_ptr().add(i * b.batch_stride),
                b.col_stride as isize,
                b.row_stride as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                par,
            )
        }
    };
    let threads = rayon::current_num_threads();
    if batch >= threads {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(i, dst)| one(i, dst, gemm::Parallelism::None));
    } else {
        for (i, dst) in out.chunks_mut(m * n).enumerate() {
            one(i, dst, gemm::Parallelism::Rayon(threads));
        }
    }
    Ok(out)
}

/// Matrix view of the last two dimensions of a packed tensor, transposed if `t`.
fn view<'a>(data: &'a [f32], dims: &[usize], t: bool) -> Mats<'a> {
    let rank = dims.len();
    let m = Mats::packed(data, dims[rank - 2], dims[rank - 1]);
    if t { m.t() } else { m }
}

/// `op(a) · op(b)` over the leading (batch) dimensions of two f32 CPU tensors of the
/// same rank ≥ 2, `op` transposing the last two dimensions when its flag is set.
pub(crate) fn matmul(a: &Tensor, a_t: bool, b: &Tensor, b_t: bool) -> candle_core::Result<Tensor> {
    let (ad, bd) = (a.dims(), b.dims());
    let rank = ad.len();
    if rank < 2 || bd.len() != rank || ad[..rank - 2] != bd[..rank - 2] {
        return Err(candle_core::Error::Msg(format!(
            "batched matmul: shapes {ad:?} and {bd:?} do not batch together"
        )));
    }
    let batch: usize = ad[..rank - 2].iter().product();
    let out = with_f32(a, |a_data| {
        with_f32(b, |b_data| {
            bmm(view(a_data, ad, a_t), view(b_data, bd, b_t), batch)
        })
    })???;
    let mut dims = ad[..rank - 2].to_vec();
    dims.push(if a_t { ad[rank - 1] } else { ad[rank - 2] });
    dims.push(if b_t { bd[rank - 2] } else { bd[rank - 1] });
    Tensor::from_vec(out, dims, a.device())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The textbook triple loop over explicit indices.
    fn naive(
        a: &[f32],
        at: bool,
        b: &[f32],
        bt: bool,
        (batch, m, k, n): (usize, usize, usize, usize),
    ) -> Vec<f32> {
        let mut out = vec![0f32; batch * m * n];
        for i in 0..batch {
            for r in 0..m {
                for c in 0..n {
                    let mut s = 0f64;
                    for j in 0..k {
                        let x = if at {
                            a[i * m * k + j * m + r]
                        } else {
                            a[i * m * k + r * k + j]
                        };
                        let y = if bt {
                            b[i * k * n + c * k + j]
                        } else {
                            b[i * k * n + j * n + c]
                        };
                        s += f64::from(x) * f64::from(y);
                    }
                    out[(i * m + r) * n + c] = s as f32;
                }
            }
        }
        out
    }

    #[test]
    fn products_of_plain_and_transposed_operands_match_the_triple_loop() {
        let (m, k, n) = (7, 5, 9);
        let vals = |len: usize, seed: u32| -> Vec<f32> {
            (0..len)
                .map(|i| {
                    (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0
                })
                .collect()
        };
        for batch in [1, 3, 37] {
            let a = vals(batch * m * k, 1);
            let b = vals(batch * k * n, 2);
            for (at, bt) in [(false, false), (true, false), (false, true), (true, true)] {
                let am = if at {
                    Mats::packed(&a, k, m).t()
                } else {
                    Mats::packed(&a, m, k)
                };
                let bm = if bt {
                    Mats::packed(&b, n, k).t()
                } else {
                    Mats::packed(&b, k, n)
                };
                let got = bmm(am, bm, batch).unwrap();
                let want = naive(&a, at, &b, bt, (batch, m, k, n));
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "{at} {bt} {batch}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn operands_too_short_for_their_strides_are_an_error() {
        let a = vec![0f32; 10];
        let b = vec![0f32; 12];
        assert!(bmm(Mats::packed(&a, 2, 3), Mats::packed(&b, 3, 4), 2).is_err());
        assert!(bmm(Mats::packed(&a, 2, 3), Mats::packed(&b, 4, 3), 1).is_err());
    }
}
