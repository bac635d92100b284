//! Dataset statistics for `distill data stats`: record counts, counts per
//! teacher, and length quantiles per role, in characters ([`sft_stats`]) or
//! in any unit the caller measures, such as tokens ([`sft_stats_by`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::records::{Role, SftRecord};

/// Nearest-rank quantiles of `values` at each `q` in `[0, 1]` (`None` when
/// `values` is empty). Sorts `values`.
pub fn quantiles(values: &mut [usize], qs: &[f64]) -> Option<Vec<usize>> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(
        qs.iter()
            .map(|q| {
                // Nearest rank: the ceil(q * n)-th smallest (1-based), at least 1.
                let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
                values[rank - 1]
            })
            .collect(),
    )
}

/// Length quantiles of one role's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleLengths {
    /// Number of messages.
    pub messages: usize,
    /// Lengths at the 0, 50, 90, 99 and 100th percentiles.
    pub p0_p50_p90_p99_p100: Vec<usize>,
}

/// Statistics of a set of SFT records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SftStats {
    /// Records seen.
    pub records: usize,
    /// Records per teacher model (`"-"` when unknown).
    pub teachers: BTreeMap<String, usize>,
    /// Length quantiles per role (`system`, `user`, `assistant`).
    pub roles: BTreeMap<String, RoleLengths>,
}

/// Computes [`SftStats`] with lengths in characters.
pub fn sft_stats<'a>(records: impl IntoIterator<Item = &'a SftRecord>) -> SftStats {
    sft_stats_by(records, |text| text.chars().count())
}

/// Computes [`SftStats`] with lengths measured by `length` (for example the
/// number of tokens `GgufTokenizer::encode` gives).
pub fn sft_stats_by<'a>(
    records: impl IntoIterator<Item = &'a SftRecord>,
    mut length: impl FnMut(&str) -> usize,
) -> SftStats {
    let mut stats = SftStats::default();
    let mut lengths: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for r in records {
        stats.records += 1;
        let teacher = r
            .meta
            .teacher
            .as_ref()
            .map_or("-".to_string(), |t| t.model.clone());
        *stats.teachers.entry(teacher).or_default() += 1;
        for m in &r.messages {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            lengths.entry(role).or_default().push(length(&m.content));
        }
    }
    for (role, mut v) in lengths {
        let messages = v.len();
        let q = quantiles(&mut v, &[0.0, 0.5, 0.9, 0.99, 1.0]).unwrap_or_default();
        stats.roles.insert(
            role.to_string(),
            RoleLengths {
                messages,
                p0_p50_p90_p99_p100: q,
            },
        );
    }
    stats
}
