//! Splits keep a problem's samples together and follow the seed; stats
//! quantiles follow the nearest-rank definition.

use std::collections::HashMap;

use datasets::records::{Message, SftRecord};
use datasets::split::{Side, SplitConfig, sft_group, side_of};
use datasets::stats::{quantiles, sft_stats};

fn record(problem: usize, sample: usize) -> SftRecord {
    let mut r = SftRecord::new(vec![
        Message::user(format!("problem {problem}")),
        Message::assistant(format!("answer {sample}")),
    ]);
    r.meta.problem_id = Some(format!("p{problem}"));
    r
}

#[test]
fn split_never_separates_a_problem_and_follows_the_seed() {
    let config = SplitConfig {
        eval_fraction: 0.1,
        seed: 1,
    };
    let mut side_by_problem: HashMap<String, Side> = HashMap::new();
    let mut eval_groups = 0;
    for problem in 0..10_000 {
        for sample in 0..3 {
            let r = record(problem, sample);
            let side = side_of(&sft_group(&r), config);
            let first = *side_by_problem.entry(sft_group(&r)).or_insert(side);
            assert_eq!(first, side, "problem {problem} split across sides");
        }
        if side_by_problem[&format!("p{problem}")] == Side::Eval {
            eval_groups += 1;
        }
    }
    // Binomial(10000, 0.1): mean 1000, sd 30; allow 4 sd.
    assert!((880..=1120).contains(&eval_groups), "{eval_groups}");
    let other = SplitConfig { seed: 2, ..config };
    let moved = (0..1000)
        .filter(|p| side_of(&format!("p{p}"), config) != side_of(&format!("p{p}"), other))
        .count();
    assert!(moved > 50, "a new seed should give a different split");
    // Without a problem id the first user message is the group.
    let mut a = record(1, 0);
    a.meta.problem_id = None;
    assert_eq!(sft_group(&a), "user:problem 1");
}

#[test]
fn quantiles_use_nearest_rank() {
    // n = 10, values 1..=10: p50 is the 5th smallest, p90 the 9th, p99 the
    // ceil(9.9) = 10th, p0 the 1st.
    let mut v: Vec<usize> = (1..=10).rev().collect();
    assert_eq!(
        quantiles(&mut v, &[0.0, 0.5, 0.9, 0.99, 1.0]),
        Some(vec![1, 5, 9, 10, 10])
    );
    assert_eq!(quantiles(&mut [], &[0.5]), None);
    let records = [record(1, 0), record(2, 1)];
    let s = sft_stats(&records);
    assert_eq!(s.records, 2);
    assert_eq!(s.teachers.get("-"), Some(&2));
    // "answer 0" and "answer 1" are both 8 characters.
    assert_eq!(s.roles["assistant"].p0_p50_p90_p99_p100, [8, 8, 8, 8, 8]);
    // Any length measure: here, words. "problem 1" and "problem 2" are 2 words.
    let w = datasets::stats::sft_stats_by(&records, |t| t.split_whitespace().count());
    assert_eq!(w.roles["user"].p0_p50_p90_p99_p100, [2, 2, 2, 2, 2]);
}
