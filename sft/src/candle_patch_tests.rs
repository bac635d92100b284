//! Tests of the vendored candle-core's patches (`vendor/README.md`) on the paths the
//! trainer and the generator take: gradients that reach a transpose keep their layout,
//! matmul outputs are not zero-filled before gemm writes them, and work kept on the
//! calling thread (`candle_core::utils::on_this_thread`) gives the pools' results.

#![allow(clippy::unwrap_used)]

use candle_core::{Device, Tensor, Var};

/// Every element of an f32 tensor as a flat vector.
fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// `y = x · wᵀ`, loss `Σ y ⊙ probe`: `∂/∂w = probeᵀ · x`, worked out by hand for the
/// 2×2 case and by loops for a larger one. The gradient comes back through the
/// transpose (stored as a transposed view, then transposed back) and must be the
/// contiguous `(out, in)` matrix with those values.
#[test]
fn a_weight_used_through_a_transpose_gets_its_gradient_contiguous_and_exact() {
    let dev = Device::Cpu;
    // x = [[1, 2], [3, 4]], w = [[5, 6], [7, 8]], probe = [[1, 0], [2, 1]]:
    // ∂/∂w[o][i] = Σ_r probe[r][o] · x[r][i] = [[1·1 + 2·3, 1·2 + 2·4], [0·1 + 1·3, 0·2 + 1·4]]
    let x = Tensor::new(&[[1f32, 2.], [3., 4.]], &dev).unwrap();
    let w = Var::new(&[[5f32, 6.], [7., 8.]], &dev).unwrap();
    let probe = Tensor::new(&[[1f32, 0.], [2., 1.]], &dev).unwrap();
    let y = x.matmul(&w.as_tensor().t().unwrap()).unwrap();
    let grads = (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    let g = grads.get(w.as_tensor()).unwrap();
    assert!(g.is_contiguous());
    assert_eq!(values(g), vec![7., 10., 3., 4.]);

    let (rows, inp, out) = (5, 7, 3);
    let xv: Vec<f32> = (0..rows * inp).map(|i| (i % 11) as f32 - 5.0).collect();
    let pv: Vec<f32> = (0..rows * out).map(|i| (i % 5) as f32 * 0.5).collect();
    let x = Tensor::from_vec(xv.clone(), (rows, inp), &dev).unwrap();
    let probe = Tensor::from_vec(pv.clone(), (rows, out), &dev).unwrap();
    let w = Var::from_tensor(&Tensor::ones((out, inp), candle_core::DType::F32, &dev).unwrap())
        .unwrap();
    let y = crate::frozen_matmul::matmul_wt(&x, w.as_tensor()).unwrap();
    let grads = (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    let g = grads.get(w.as_tensor()).unwrap();
    assert!(g.is_contiguous());
    let mut want = vec![0f32; out * inp];
    for o in 0..out {
        for i in 0..inp {
            want[o * inp + i] = (0..rows).map(|r| pv[r * out + o] * xv[r * inp + i]).sum();
        }
    }
    assert_eq!(values(g), want);
}

/// A matmul whose output lands in memory that held NaNs (freed just before, so glibc
/// hands the same block back) has exactly the product's values, and an empty inner
/// dimension gives zeros: gemm writes every element itself.
#[test]
fn matmul_outputs_never_show_what_their_memory_held_before() {
    let dev = Device::Cpu;
    let (m, k, n) = (64, 48, 80);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 2.0).collect();
    let mut want = vec![0f32; m * n];
    for r in 0..m {
        for c in 0..n {
            want[r * n + c] = (0..k).map(|j| a[r * k + j] * b[j * n + c]).sum();
        }
    }
    let at = Tensor::from_vec(a, (m, k), &dev).unwrap();
    let bt = Tensor::from_vec(b, (k, n), &dev).unwrap();
    for _ in 0..3 {
        drop(std::hint::black_box(vec![f32::NAN; m * n]));
        assert_eq!(values(&at.matmul(&bt).unwrap()), want);
    }
    let empty_a = Tensor::zeros((m, 0), candle_core::DType::F32, &dev).unwrap();
    let empty_b = Tensor::zeros((0, n), candle_core::DType::F32, &dev).unwrap();
    drop(std::hint::black_box(vec![f32::NAN; m * n]));
    assert_eq!(
        values(&empty_a.matmul(&empty_b).unwrap()),
        vec![0f32; m * n]
    );
}

/// Quantized and f32 matmuls and element-wise maps, large enough for candle to split
/// them across its pools, inside `on_this_thread` give bit-for-bit what they give on
/// the shared pools (the pools split rows and columns, never a sum); the mode is set
/// inside, nests, and is restored on return and on a panic.
#[test]
fn work_kept_on_this_thread_matches_the_pools() {
    use candle_core::Module;
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::utils::{is_on_this_thread, on_this_thread};
    let dev = Device::Cpu;
    let wave = |n: usize, phase: f32| -> Vec<f32> {
        (0..n).map(|i| ((i as f32) * 0.61 + phase).sin()).collect()
    };
    let (rows, inp, out) = (16, 512, 384);
    let x = Tensor::from_vec(wave(rows * inp, 0.3), (rows, inp), &dev).unwrap();
    let w = Tensor::from_vec(wave(out * inp, 1.1), (out, inp), &dev).unwrap();
    let q4k = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q4K).unwrap()).unwrap();
    let q8 = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0).unwrap()).unwrap();
    let compute = || {
        let one_row = x.narrow(0, 0, 1).unwrap();
        vec![
            values(&q4k.forward(&x).unwrap()),
            values(&q4k.forward(&one_row).unwrap()),
            values(&q8.forward(&x).unwrap()),
            values(&x.matmul(&w.t().unwrap()).unwrap()),
            values(&(&x * 2.5).unwrap().silu().unwrap()),
            values(&(&x + &x.sqr().unwrap()).unwrap()),
        ]
    };
    assert!(!is_on_this_thread());
    let pooled = compute();
    let kept = on_this_thread(|| {
        assert!(is_on_this_thread());
        on_this_thread(|| assert!(is_on_this_thread()));
        assert!(is_on_this_thread(), "a nested call must not clear the mode");
        compute()
    });
    assert!(!is_on_this_thread());
    assert_eq!(kept, pooled);
    let caught = std::panic::catch_unwind(|| on_this_thread(|| panic!("inside")));
    assert!(caught.is_err());
    assert!(!is_on_this_thread(), "a panic must restore the mode");
}
