//! Comparing two eval runs on the same problems: the difference of their mean
//! pass@1 (B − A) with a seeded paired bootstrap 95% confidence interval.
//!
//! Paired bootstrap: draw the problem set with replacement `resamples` times (the
//! same draw for both runs), take the mean of the per-problem differences
//! `pass@1_B − pass@1_A` each time, and report the 2.5% and 97.5% quantiles of those
//! means (linear interpolation between order statistics, numpy's default). Indices
//! come from SplitMix64 seeded with `seed`, so the interval repeats exactly.

use super::summary::read_results;
use super::{EvalConfig, EvalError, EvalPaths};
use datasets::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Bootstrap resamples. Default: 10,000.
    pub resamples: usize,
    /// Seed of the resampling. Default: 0.
    pub seed: u64,
    /// Confidence level of the interval. Default: 0.95.
    pub confidence: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            resamples: 10_000,
            seed: 0,
            confidence: 0.95,
        }
    }
}

/// The comparison of run B against run A.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Run A's directory.
    pub a: PathBuf,
    /// Run B's directory.
    pub b: PathBuf,
    /// Run A's model (from its `config.json`; empty when absent).
    pub model_a: String,
    /// Run B's model.
    pub model_b: String,
    /// Problems compared.
    pub problems: usize,
    /// Mean pass@1 of A.
    pub pass1_a: f64,
    /// Mean pass@1 of B.
    pub pass1_b: f64,
    /// `pass1_b - pass1_a`.
    pub diff: f64,
    /// Lower end of the bootstrap interval of `diff`.
    pub ci_low: f64,
    /// Upper end of the bootstrap interval of `diff`.
    pub ci_high: f64,
    /// Confidence level of the interval.
    pub confidence: f64,
    /// Problems where B's pass@1 is higher / lower / equal.
    pub b_better: usize,
    /// Problems where B's pass@1 is lower.
    pub b_worse: usize,
    /// Problems with equal pass@1.
    pub ties: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
}

impl Comparison {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let name = |m: &str, d: &Path| {
            if m.is_empty() {
                d.display().to_string()
            } else {
                format!("{m} ({})", d.display())
            }
        };
        let _ = writeln!(t, "A            {}", name(&self.model_a, &self.a));
        let _ = writeln!(t, "B            {}", name(&self.model_b, &self.b));
        let _ = writeln!(t, "problems     {}", self.problems);
        let _ = writeln!(t, "pass@1 A     {:.2}%", 100.0 * self.pass1_a);
        let _ = writeln!(t, "pass@1 B     {:.2}%", 100.0 * self.pass1_b);
        let _ = writeln!(
            t,
            "B - A        {:+.2} points, {:.0}% CI [{:+.2}, {:+.2}] (paired bootstrap, {} resamples, seed {})",
            100.0 * self.diff,
            100.0 * self.confidence,
            100.0 * self.ci_low,
            100.0 * self.ci_high,
            self.resamples,
            self.seed
        );
        let _ = writeln!(
            t,
            "per problem  B better {}, B worse {}, tie {}",
            self.b_better, self.b_worse, self.ties
        );
        t
    }
}

/// Per-problem pass@1 of the finished problems in an eval directory.
fn pass1_by_problem(dir: &Path) -> Result<BTreeMap<String, f64>, EvalError> {
    let paths = EvalPaths::new(dir);
    if !paths.results().exists() {
        return Err(EvalError::io(
            paths.results(),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no results (not an eval run?)",
            ),
        ));
    }
    let map: BTreeMap<String, f64> = read_results(&paths)?
        .into_iter()
        .map(|r| (r.problem_id.clone(), r.pass_at_1()))
        .collect();
    if map.is_empty() {
        return Err(EvalError::Settings(format!(
            "{} has no finished problems",
            dir.display()
        )));
    }
    Ok(map)
}

fn model_of(dir: &Path) -> String {
    EvalConfig::read(&EvalPaths::new(dir))
        .map(|c| c.model().to_string())
        .unwrap_or_default()
}

/// Compares the eval runs in `a_dir` and `b_dir` (B − A); they must cover the same
/// problems.
pub fn compare(
    a_dir: &Path,
    b_dir: &Path,
    options: &CompareOptions,
) -> Result<Comparison, EvalError> {
    if options.resamples == 0 || !(options.confidence > 0.0 && options.confidence < 1.0) {
        return Err(EvalError::Settings(
            "the bootstrap needs resamples >= 1 and a confidence level in (0, 1)".into(),
        ));
    }
    let a = pass1_by_problem(a_dir)?;
    let b = pass1_by_problem(b_dir)?;
    let only_a: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    if let Some(example) = only_a.first().or(only_b.first()) {
        return Err(EvalError::ProblemSetsDiffer {
            a: a_dir.to_path_buf(),
            b: b_dir.to_path_buf(),
            only_a: only_a.len(),
            only_b: only_b.len(),
            example: (*example).clone(),
        });
    }
    let pairs: Vec<(f64, f64)> = a.iter().map(|(k, &va)| (va, b[k])).collect();
    let diffs: Vec<f64> = pairs.iter().map(|(va, vb)| vb - va).collect();
    let m = diffs.len() as f64;
    let pass1_a = pairs.iter().map(|p| p.0).sum::<f64>() / m;
    let pass1_b = pairs.iter().map(|p| p.1).sum::<f64>() / m;
    let (ci_low, ci_high) = paired_bootstrap_ci(&diffs, options);
    Ok(Comparison {
        a: a_dir.to_path_buf(),
        b: b_dir.to_path_buf(),
        model_a: model_of(a_dir),
        model_b: model_of(b_dir),
        problems: diffs.len(),
        pass1_a,
        pass1_b,
        diff: pass1_b - pass1_a,
        ci_low,
        ci_high,
        confidence: options.confidence,
        b_better: diffs.iter().filter(|&&d| d > 0.0).count(),
        b_worse: diffs.iter().filter(|&&d| d < 0.0).count(),
        ties: diffs.iter().filter(|&&d| d == 0.0).count(),
        resamples: options.resamples,
        seed: options.seed,
    })
}

/// The bootstrap interval of the mean of `diffs` (see the module doc).
pub fn paired_bootstrap_ci(diffs: &[f64], options: &CompareOptions) -> (f64, f64) {
    if diffs.is_empty() {
        return (0.0, 0.0);
    }
    let mut rng = SplitMix64::new(options.seed);
    let m = diffs.len();
    let mut means: Vec<f64> = (0..options.resamples.max(1))
        .map(|_| (0..m).map(|_| diffs[rng.below(m)]).sum::<f64>() / m as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let tail = (1.0 - options.confidence) / 2.0;
    (quantile(&means, tail), quantile(&means, 1.0 - tail))
}

/// The `p` quantile of sorted, non-empty `xs` with linear interpolation.
fn quantile(xs: &[f64], p: f64) -> f64 {
    let h = (xs.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(xs.len() - 1);
    xs[lo] + (h - lo as f64) * (xs[hi] - xs[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_differences_have_a_point_interval() {
        let o = CompareOptions::default();
        assert_eq!(paired_bootstrap_ci(&[0.0; 20], &o), (0.0, 0.0));
        assert_eq!(paired_bootstrap_ci(&[1.0; 20], &o), (1.0, 1.0));
    }

    #[test]
    fn interval_matches_the_normal_approximation() {
        // 100 problems, half with difference 1 and half 0: mean 0.5, population sd
        // 0.5, so the standard error of the mean is 0.5 / sqrt(100) = 0.05 and the
        // normal-approximation 95% interval is 0.5 ± 1.96 · 0.05 = [0.402, 0.598].
        let diffs: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
        let (lo, hi) = paired_bootstrap_ci(&diffs, &CompareOptions::default());
        assert!((lo - 0.402).abs() < 0.015, "{lo}");
        assert!((hi - 0.598).abs() < 0.015, "{hi}");
        // The same seed repeats exactly; another seed is equally close.
        assert_eq!(
            paired_bootstrap_ci(&diffs, &CompareOptions::default()),
            (lo, hi)
        );
        let other = CompareOptions {
            seed: 7,
            ..CompareOptions::default()
        };
        let (lo7, hi7) = paired_bootstrap_ci(&diffs, &other);
        assert!((lo7 - 0.402).abs() < 0.015 && (hi7 - 0.598).abs() < 0.015);
    }

    #[test]
    fn quantiles_interpolate() {
        // numpy.quantile([0, 1, 2, 3], 0.5) = 1.5; 0.25 → 0.75.
        assert_eq!(quantile(&[0.0, 1.0, 2.0, 3.0], 0.5), 1.5);
        assert_eq!(quantile(&[0.0, 1.0, 2.0, 3.0], 0.25), 0.75);
    }
}
