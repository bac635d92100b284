//! Issue 3's packing acceptance, end to end: rows packed by the `datasets` crate
//! (best-fit-decreasing, restarting positions) give each sample exactly the logits it
//! gets when run alone, so packed samples cannot attend to each other.

use candle_core::{Device, IndexOp, Tensor};
use datasets::pack::{TokenizedSample, build_rows};
use sft::{CausalLm, TrainMode};

#[test]
fn datasets_packed_rows_give_each_sample_its_unpacked_logits() {
    let model = CausalLm::random(
        crate::common::tiny_config(),
        11,
        &TrainMode::Frozen,
        &Device::Cpu,
    )
    .unwrap();
    let mut ctx = sft::ForwardCtx::eval();
    // 12 samples of varied length (3..=17 tokens), ids in the tiny vocab (64).
    let samples: Vec<TokenizedSample> = (0..12u32)
        .map(|i| {
            let len = 3 + ((i * 7) % 15) as usize;
            TokenizedSample {
                input_ids: (0..len as u32).map(|t| 1 + (i * 5 + t * 3) % 63).collect(),
                loss_mask: vec![true; len],
            }
        })
        .collect();
    let (_, rows) = build_rows(&samples, 32, 0).unwrap();
    assert!(
        rows.len() < samples.len(),
        "packing must put several samples in a row"
    );
    let mut checked = 0;
    for row in &rows {
        let ids = Tensor::new(row.input_ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let pos = Tensor::new(row.position_ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let packed = model.forward(&ids, None, Some(&pos), &mut ctx).unwrap(); // (1, row, vocab)
        // Walk the row: each sample occupies a contiguous span in the order of `samples`.
        let mut offset = 0;
        for &s in &row.samples {
            let alone_ids = &samples[s].input_ids;
            let n = alone_ids.len();
            assert_eq!(&row.input_ids[offset..offset + n], alone_ids.as_slice());
            let alone = Tensor::new(alone_ids.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let expected = model.forward(&alone, None, None, &mut ctx).unwrap(); // (1, n, vocab)
            let got = packed.i((.., offset..offset + n, ..)).unwrap();
            let diff = (got - expected)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "sample {s}: max abs diff {diff}");
            offset += n;
            checked += 1;
        }
    }
    assert_eq!(checked, samples.len());
}
