//! The partial selection of [`super::nucleus`] against sorting the whole vocabulary.

use super::nucleus;

/// Probabilities over `n` ids with many exact ties (values repeat every 97 ids).
fn probs(n: usize) -> Vec<(u32, f64)> {
    (0..n)
        .map(|i| (i as u32, (((i % 97) as f64) * 0.173).exp() / 1000.0))
        .collect()
}

/// The reference: sort everything, take the smallest prefix reaching `want`.
fn sorted_prefix(mut all: Vec<(u32, f64)>, want: f64) -> (Vec<(u32, f64)>, f64) {
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = 0.0;
    for (i, p) in all.iter().enumerate() {
        kept += p.1;
        if kept >= want {
            return (all[..=i].to_vec(), kept);
        }
    }
    (all, kept)
}

#[test]
fn nucleus_is_the_sorted_prefix() {
    for n in [1, 5, 63, 64, 65, 1000, 5000] {
        let all = probs(n);
        let total: f64 = all.iter().map(|p| p.1).sum();
        // From one token to the whole vocabulary; 1.0 may fall short of `total` by
        // rounding and so take everything, as the full sort does.
        for top_p in [1e-9, 0.01, 0.3, 0.9, 0.95, 0.999, 1.0] {
            let want = top_p * total;
            let (expected, expected_mass) = sorted_prefix(all.clone(), want);
            let mut got = all.clone();
            let (len, mass) = nucleus(&mut got, want);
            assert_eq!(&got[..len], &expected[..], "n {n}, top_p {top_p}");
            assert_eq!(
                mass.to_bits(),
                expected_mass.to_bits(),
                "n {n}, top_p {top_p}"
            );
        }
    }
}
