//! Packing and batching. The key test (acceptance 2) tags every token with
//! its sample (`id = sample * 1000 + position`), so the ground truth of who
//! may attend to whom is read from the tokens, independently of the mask
//! descriptor under test.

use std::collections::HashSet;

use datasets::pack::{
    BucketOptions, IGNORE_INDEX, PackError, PadSide, Segment, TokenizedSample, bucket_batches,
    build_rows, pack_best_fit, pad_batch,
};
use datasets::rng::SplitMix64;

const PAD: u32 = u32::MAX;

#[test]
fn best_fit_decreasing_matches_a_hand_derivation() {
    // Sorted: 7,5,4,3,1 into rows of 10. 7 -> new row 0 (room 3); 5 -> no
    // room, new row 1 (room 5); 4 -> rooms {3, 5}: best fit is row 1 (room 1);
    // 3 -> rooms {3, 1}: row 0 (room 0); 1 -> room {1}: row 1 (room 0).
    let p = match pack_best_fit(&[7, 5, 4, 3, 1], 10) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let seg = |sample, offset, len| Segment {
        sample,
        offset,
        len,
    };
    assert_eq!(p.rows.len(), 2);
    assert_eq!(p.rows[0].segments, [seg(0, 0, 7), seg(3, 7, 3)]);
    assert_eq!(
        p.rows[1].segments,
        [seg(1, 0, 5), seg(2, 5, 4), seg(4, 9, 1)]
    );
    assert_eq!(p.efficiency(), 1.0);
    // Where best fit differs from first fit: 12, 9, 9, 2 into rows of 20.
    // 12 -> row 0 (room 8); 9 -> new row 1 (room 11); 9 -> row 1 (room 2);
    // 2 -> rooms {8, 2}: best fit takes row 1 (first fit would take row 0).
    let p = match pack_best_fit(&[12, 9, 9, 2], 20) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(p.rows[0].segments, [seg(0, 0, 12)]);
    assert_eq!(
        p.rows[1].segments,
        [seg(1, 0, 9), seg(2, 9, 9), seg(3, 18, 2)]
    );
}

#[test]
fn packing_errors_are_typed() {
    assert_eq!(pack_best_fit(&[3], 0), Err(PackError::ZeroRowLen));
    assert_eq!(
        pack_best_fit(&[3, 11], 10),
        Err(PackError::TooLong {
            sample: 1,
            len: 11,
            row_len: 10
        })
    );
    assert_eq!(pack_best_fit(&[0], 10), Err(PackError::Empty { sample: 0 }));
    let bad = TokenizedSample {
        input_ids: vec![1, 2],
        loss_mask: vec![true],
    };
    assert!(matches!(
        build_rows(&[bad], 4, PAD),
        Err(PackError::MaskLength {
            sample: 0,
            ids: 2,
            mask: 1
        })
    ));
}

fn samples(n: usize, seed: u64) -> Vec<TokenizedSample> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|s| {
            let len = rng.range(1, 200);
            let prompt = rng.below(len);
            TokenizedSample {
                input_ids: (0..len).map(|j| (s * 1000 + j) as u32).collect(),
                // Prompt tokens untrained, answer tokens trained.
                loss_mask: (0..len).map(|j| j >= prompt).collect(),
            }
        })
        .collect()
}

#[test]
fn fifty_packed_samples_cannot_attend_across_samples() {
    let row_len = 256;
    let input = samples(50, 11);
    let (packing, rows) = match build_rows(&input, row_len, PAD) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let total: usize = input.iter().map(|s| s.input_ids.len()).sum();
    assert!(rows.len() >= total.div_ceil(row_len));
    assert_eq!(rows.len(), packing.rows.len());
    // More than one sample shares a row somewhere, or the test proves nothing.
    assert!(rows.iter().any(|r| r.samples.len() >= 3));

    let mut seen = HashSet::new();
    for row in &rows {
        assert_eq!(row.input_ids.len(), row_len);
        // Ground truth from the tokens alone.
        let owner = |p: usize| (row.input_ids[p] != PAD).then(|| row.input_ids[p] / 1000);
        let index = |p: usize| row.input_ids[p] % 1000;
        let dense = row.mask.dense();
        for q in 0..row_len {
            for k in 0..row_len {
                let truth = k <= q && owner(q).is_some() && owner(q) == owner(k);
                assert_eq!(row.mask.allows(q, k), truth, "allows({q}, {k})");
                assert_eq!(dense[q * row_len + k], truth, "dense[{q}][{k}]");
            }
            match owner(q) {
                Some(s) => {
                    // Positions restart per sample: position id == index in sample.
                    assert_eq!(row.position_ids[q], index(q));
                    // What q sees is exactly its own sample's prefix, as unpacked.
                    let visible: Vec<u32> = (0..row_len)
                        .filter(|&k| row.mask.allows(q, k))
                        .map(|k| row.input_ids[k])
                        .collect();
                    let expected: Vec<u32> = (0..=index(q)).map(|j| s * 1000 + j).collect();
                    assert_eq!(visible, expected);
                    // Labels: trained tokens only, never a sample's first token.
                    let sample = &input[s as usize];
                    let j = index(q) as usize;
                    let want = if j > 0 && sample.loss_mask[j] {
                        i64::from(row.input_ids[q])
                    } else {
                        IGNORE_INDEX
                    };
                    assert_eq!(row.labels[q], want);
                    seen.insert((s, index(q)));
                }
                None => {
                    assert_eq!(row.position_ids[q], 0);
                    assert_eq!(row.labels[q], IGNORE_INDEX);
                }
            }
        }
    }
    // Every token of every sample is in exactly one place.
    assert_eq!(seen.len(), total);
}

#[test]
fn bucketing_groups_similar_lengths() {
    // Sorted by length: 0(1), 2(2), 3(8), 1(9); batches of 2.
    let b = bucket_batches(
        &[1, 9, 2, 8],
        BucketOptions {
            batch_size: 2,
            ..BucketOptions::default()
        },
    );
    assert_eq!(b, [vec![0, 2], vec![3, 1]]);
    // Token budget: three 3s fill 9 padded tokens; the 10 goes alone.
    let b = bucket_batches(
        &[3, 3, 3, 10],
        BucketOptions {
            batch_size: 8,
            max_tokens: Some(9),
            shuffle_seed: None,
        },
    );
    assert_eq!(b, [vec![0, 1, 2], vec![3]]);
    // Shuffling reorders batches, never their content.
    let lengths: Vec<usize> = (0..100).map(|i| (i * 37) % 91 + 1).collect();
    let plain = bucket_batches(&lengths, BucketOptions::default());
    let mut shuffled = bucket_batches(
        &lengths,
        BucketOptions {
            shuffle_seed: Some(3),
            ..BucketOptions::default()
        },
    );
    assert_ne!(plain, shuffled);
    shuffled.sort();
    let mut sorted_plain = plain.clone();
    sorted_plain.sort();
    assert_eq!(shuffled, sorted_plain);
    let all: HashSet<usize> = plain.iter().flatten().copied().collect();
    assert_eq!(all.len(), 100);
}

#[test]
fn padded_batches_match_by_hand() {
    let a = TokenizedSample {
        input_ids: vec![5, 6, 7],
        loss_mask: vec![false, true, true],
    };
    let b = TokenizedSample {
        input_ids: vec![8],
        loss_mask: vec![true],
    };
    let r = pad_batch(&[&a, &b], 0, PadSide::Right);
    assert_eq!((r.batch, r.seq_len), (2, 3));
    assert_eq!(r.input_ids, [5, 6, 7, 8, 0, 0]);
    assert_eq!(r.attention_mask, [1, 1, 1, 1, 0, 0]);
    assert_eq!(r.position_ids, [0, 1, 2, 0, 0, 0]);
    assert_eq!(r.labels, [-100, 6, 7, 8, -100, -100]);
    let l = pad_batch(&[&a, &b], 0, PadSide::Left);
    assert_eq!(l.input_ids, [5, 6, 7, 0, 0, 8]);
    assert_eq!(l.attention_mask, [1, 1, 1, 0, 0, 1]);
    assert_eq!(l.position_ids, [0, 1, 2, 0, 0, 0]);
}
