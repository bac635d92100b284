//! A projection with an f32 prefill copy: inputs of at least [`DENSE_PREFILL_ROWS`]
//! rows are multiplied with the dequantized weights (checked against a plain f64
//! product), fewer rows with the quantized blocks (bit-equal to candle's `QMatMul`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{DENSE_PREFILL_ROWS, Proj};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use std::sync::Arc;

const OUT: usize = 24;
const IN: usize = 256; // one k-quant super-block per row

/// Deterministic values in about [-1, 1].
fn wave(n: usize, phase: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32) * 0.37 + phase).sin() * (1.0 + (i % 7) as f32 * 0.1))
        .collect()
}

fn quantized_weight() -> Arc<QTensor> {
    let w = Tensor::from_vec(wave(OUT * IN, 0.5), (OUT, IN), &Device::Cpu).unwrap();
    Arc::new(QTensor::quantize(&w, GgmlDType::Q4K).unwrap())
}

fn proj(q: &Arc<QTensor>) -> Proj {
    Proj {
        w: QMatMul::from_arc(Arc::clone(q)).unwrap(),
        prefill: Some(QMatMul::Tensor(q.dequantize(&Device::Cpu).unwrap())),
        b: None,
    }
}

fn rows(x: &Tensor) -> Vec<Vec<f32>> {
    x.to_vec2::<f32>().unwrap()
}

/// `x W^T` in f64 with `W` the blocks' dequantized values, `(rows, OUT)`.
fn reference(x: &Tensor, q: &QTensor) -> Vec<Vec<f64>> {
    let w = rows(&q.dequantize(&Device::Cpu).unwrap());
    rows(x)
        .iter()
        .map(|xr| {
            w.iter()
                .map(|wr| {
                    xr.iter()
                        .zip(wr)
                        .map(|(a, b)| f64::from(*a) * f64::from(*b))
                        .sum()
                })
                .collect()
        })
        .collect()
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (f64::from(*x) - y).abs())
        .fold(0.0, f64::max)
}

fn input(n: usize) -> Tensor {
    Tensor::from_vec(wave(n * IN, 2.0), (n, IN), &Device::Cpu).unwrap()
}

#[test]
fn prompt_rows_use_the_dequantized_copy_and_decode_rows_the_blocks() {
    let q = quantized_weight();
    let p = proj(&q);
    let blocks = QMatMul::from_arc(Arc::clone(&q)).unwrap();

    // A prompt chunk: the f32 product of the dequantized weights, to f32 rounding
    // (sums of 256 products of magnitude <= 1.6).
    let x = input(DENSE_PREFILL_ROWS);
    let dense = rows(&p.forward(&x).unwrap());
    let exact = reference(&x, &q);
    assert!(
        max_diff(&dense, &exact) < 1e-4,
        "{}",
        max_diff(&dense, &exact)
    );

    // Fewer rows: exactly candle's quantized product, which also rounds the
    // activations to q8 blocks and so misses the f64 product by far more.
    for n in [1, DENSE_PREFILL_ROWS - 1] {
        let x = input(n);
        let got = rows(&p.forward(&x).unwrap());
        assert_eq!(got, rows(&blocks.forward(&x).unwrap()), "{n} rows");
        let off = max_diff(&got, &reference(&x, &q));
        assert!(
            off > 1e-3,
            "{n} rows: the blocks' product should show q8 rounding ({off})"
        );
    }
}
