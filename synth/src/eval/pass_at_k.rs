//! The unbiased pass@k estimator of Chen et al. 2021 ("Evaluating Large Language
//! Models Trained on Code", section 2.1): with `n` samples of which `c` pass,
//! `pass@k = 1 - C(n-c, k) / C(n, k)`, computed in the numerically stable product
//! form `1 - prod_{i=n-c+1}^{n} (1 - k/i)` that their reference code uses.

/// pass@k for one problem: `n` samples, `c` of them correct.
///
/// Returns `None` when the estimate is undefined: `k == 0`, `k > n`, or `c > n`.
/// `n - c < k` gives exactly 1 (every k-subset holds a correct sample).
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let kf = k as f64;
    let mut prod = 1.0f64;
    for i in (n - c + 1)..=n {
        prod *= 1.0 - kf / i as f64;
    }
    Some(1.0 - prod)
}

/// The mean of per-problem pass@k values (`None` for an empty list).
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn hand_computed_values() {
        // n=10, c=1, k=1: 1 - C(9,1)/C(10,1) = 1 - 9/10 = 0.1
        assert!(close(pass_at_k(10, 1, 1), 0.1));
        // n=10, c=2, k=5: 1 - C(8,5)/C(10,5) = 1 - 56/252 = 7/9
        assert!(close(pass_at_k(10, 2, 5), 1.0 - 56.0 / 252.0));
        // n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7
        assert!(close(pass_at_k(5, 2, 2), 0.7));
        // n=3, c=1, k=2: 1 - C(2,2)/C(3,2) = 1 - 1/3
        assert!(close(pass_at_k(3, 1, 2), 2.0 / 3.0));
        // pass@1 is c/n: n=20, c=7 → 0.35
        assert!(close(pass_at_k(20, 7, 1), 0.35));
        // n=200, c=13, k=100: 1 - C(187,100)/C(200,100). Python's exact
        // `math.comb(187,100)/math.comb(200,100)` = 8.050280119455824e-05, so
        // pass@100 = 0.9999194971988055 (the product form must match to 1e-12).
        assert!(close(pass_at_k(200, 13, 100), 0.999_919_497_198_805_5));
    }

    #[test]
    fn edge_cases() {
        // No correct sample: 0.
        assert!(close(pass_at_k(10, 0, 1), 0.0));
        assert!(close(pass_at_k(10, 0, 10), 0.0));
        // n - c < k: every k-subset holds a correct one.
        assert!(close(pass_at_k(10, 2, 9), 1.0));
        assert!(close(pass_at_k(1, 1, 1), 1.0));
        assert!(close(pass_at_k(10, 10, 1), 1.0));
        // Undefined.
        assert_eq!(pass_at_k(10, 1, 0), None);
        assert_eq!(pass_at_k(10, 1, 11), None);
        assert_eq!(pass_at_k(10, 11, 1), None);
    }

    #[test]
    fn mean_of_values() {
        assert_eq!(mean(&[]), None);
        assert!(close(mean(&[0.0, 1.0, 0.5]), 0.5));
    }
}
