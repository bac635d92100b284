//! The index of each row's largest logit, on all cores: the prediction behind
//! `mean_token_accuracy`. candle's `argmax` is one thread over the whole
//! `(batch, seq, vocab)` tensor, 50M elements per step at SmolLM2's vocabulary.

use super::with_f32;
use candle_core::Tensor;
use rayon::prelude::*;

/// `(..., vocab)` f32 CPU logits → `(...)` u32: per row, the first index of the maximum,
/// by the comparisons candle's `argmax` makes (so NaNs are treated as candle treats them).
pub fn argmax_rows(logits: &Tensor) -> candle_core::Result<Tensor> {
    let dims = logits.dims();
    let Some((&v, lead)) = dims.split_last() else {
        return Err(candle_core::Error::Msg("argmax of a scalar".into()));
    };
    if v == 0 {
        return Err(candle_core::Error::Msg(
            "argmax over an empty last dimension".into(),
        ));
    }
    let idx: Vec<u32> = with_f32(logits, |z| {
        z.par_chunks(v)
            .map(|row| {
                let mut best = 0;
                for (j, &x) in row.iter().enumerate() {
                    if x > row[best] {
                        best = j;
                    }
                }
                best as u32
            })
            .collect()
    })?;
    Tensor::from_vec(idx, lead, logits.device())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use candle_core::{DType, Device, IndexOp};

    #[test]
    fn equals_candles_argmax_including_ties_and_strided_input() {
        let dev = Device::Cpu;
        let vals: Vec<f32> = (0..2 * 5 * 37).map(|i| ((i * 7919) % 23) as f32).collect();
        let t = Tensor::from_vec(vals, (2, 5, 37), &dev).unwrap();
        let want = t
            .argmax(candle_core::D::Minus1)
            .unwrap()
            .to_dtype(DType::U32)
            .unwrap();
        assert_eq!(
            argmax_rows(&t).unwrap().to_vec2::<u32>().unwrap(),
            want.to_vec2::<u32>().unwrap()
        );
        // ties: the first maximum wins
        let tie = Tensor::new(&[[1f32, 3., 3., 0.], [0., 2., 5., 5.]], &dev).unwrap();
        assert_eq!(
            argmax_rows(&tie).unwrap().to_vec1::<u32>().unwrap(),
            vec![1, 2]
        );
        // NaNs: whatever candle's comparisons give
        let nan = Tensor::new(&[[f32::NAN, 2., 5.], [1., f32::NAN, 0.5]], &dev).unwrap();
        let candle_nan = nan.argmax(candle_core::D::Minus1).unwrap();
        assert_eq!(
            argmax_rows(&nan).unwrap().to_vec1::<u32>().unwrap(),
            candle_nan
                .to_dtype(DType::U32)
                .unwrap()
                .to_vec1::<u32>()
                .unwrap()
        );
        // a strided view is read through a contiguous copy
        let strided = t.i((.., 1..4, ..)).unwrap();
        assert_eq!(
            argmax_rows(&strided).unwrap().to_vec2::<u32>().unwrap(),
            want.i((.., 1..4)).unwrap().to_vec2::<u32>().unwrap()
        );
    }
}
