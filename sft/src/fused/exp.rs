//! `eˣ` in plain arithmetic that the compiler vectorizes, for the fused ops' softmax,
//! cross-entropy and SiLU loops, and the lane-wise sum and maximum those loops reduce
//! with.
//!
//! `f32::exp` is a call into libm per element, which keeps every loop around it scalar:
//! it was about 3% of a training step. This is the classic Cephes `expf` scheme: `x =
//! n·ln2 + r` with `|r| ≤ ln2/2` (Cody–Waite: `ln2` split in two so `n·ln2_hi` is
//! exact), a degree-6 polynomial for `eʳ`, and `2ⁿ` added to the exponent bits. Max
//! error about 2 ulp against the correctly rounded result (test below, against `f64`).

/// `log2(e)`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// High part of `ln 2` (few mantissa bits, so `n · LN2_HI` is exact for `|n| ≤ 128`).
const LN2_HI: f32 = 0.693_359_4;
/// `ln 2 − LN2_HI`.
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5 · 2²³`: adding it rounds a float of magnitude below 2²² to an integer, which
/// then sits in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
/// Below this `eˣ` is under `f32::MIN_POSITIVE`; clamped, it gives about `1.2e-38`.
const MIN_X: f32 = -87.336_55;
/// Above this `eˣ` would need an exponent of 128; clamped, it gives about `1.7e38`.
const MAX_X: f32 = 88.0;

/// `eˣ` for `x` in `f32`, NaN for NaN; inputs beyond `[-87.3, 88]` are clamped (so the
/// result is never 0 or infinite: callers that need an exact 0 for very negative
/// arguments test for them, as the softmax does for masked scores).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let c = x.clamp(MIN_X, MAX_X);
    let t = c * LOG2_E + ROUND;
    let n = t - ROUND;
    let r = c - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // n as an integer: the low mantissa bits of t, relative to ROUND's own bits
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scaled = f32::from_bits((y.to_bits() as i32).wrapping_add(n_int << 23) as u32);
    if x.is_nan() { x } else { scaled }
}

/// The sum of `xs` in eight interleaved lanes (vectorized; a single running sum cannot
/// be, without reordering).
pub(crate) fn sum(xs: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// The largest element of `xs` (`-inf` when empty; NaNs are skipped as `f32::max`
/// skips them), in eight interleaved lanes (vectorized).
pub(crate) fn max(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l = l.max(x);
        }
    }
    lanes
        .iter()
        .chain(rest)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite positive floats.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn within_two_ulp_of_the_f64_exponential_over_the_normal_range() {
        let mut worst = 0;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp(x), want));
            x += 0.000_731;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
    }

    #[test]
    fn exact_points_extremes_and_nan() {
        assert_eq!(exp(0.0), 1.0);
        assert!(ulps(exp(1.0), std::f32::consts::E) <= 1);
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1.2e-38);
        assert!(exp(f32::NEG_INFINITY) < 1.2e-38);
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn lane_sum_and_max_agree_with_scalar_loops() {
        let xs: Vec<f32> = (0..1003).map(|i| exp((i as f32 - 500.0) / 37.0)).collect();
        let exact: f64 = xs.iter().map(|&x| f64::from(x)).sum();
        assert!(((sum(&xs) as f64) - exact).abs() <= 1e-6 * exact);
        let top = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(max(&xs), top);
        assert_eq!(max(&xs[..5]), xs[4]);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }
}
