//! Fused training ops with hand-written backward passes (CPU, f32).
//!
//! candle's autograd keeps every intermediate of a composed op alive until the loss is
//! dropped. Each op here computes its forward with ordinary tensor ops (or plain loops)
//! on *detached* inputs, so the intermediates are freed at once, and attaches the
//! result to the graph through a custom op whose `cpu_fwd` hands back that
//! precomputed output. Its `bwd` recomputes what it needs from the inputs (as
//! activation checkpointing and flash attention do). Only the output stays alive.
//!
//! The ops here handle only f32 tensors on the CPU: callers check [`fusable`] first
//! and keep the composed path for other devices and dtypes. The LoRA projection,
//! attention core and cross-entropy precompute their output; RMSNorm, rope and
//! `silu(g)·u` compute it in `cpu_fwd` directly. Helpers shared by the ops: batched
//! products one gemm per matrix (`batched_matmul`), a vectorizable `eˣ` (`exp`),
//! and row-parallel loops and zero fills on rayon's pool (below).

pub mod adamw;
pub mod argmax;
pub mod attention;
pub(crate) mod batched_matmul;
pub mod cross_entropy;
pub(crate) mod exp;
pub mod lora;
pub mod repeat_kv;
pub mod rms_norm;
pub mod rope;
pub mod swiglu;

use candle_core::{CpuStorage, DType, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

/// Whether every tensor is an f32 tensor on the CPU (the fused ops' domain).
pub fn fusable(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// A forward result computed ahead of the custom op, handed over once by `cpu_fwd`.
#[derive(Debug, Default)]
pub(crate) struct Precomputed(Mutex<Option<Output>>);

/// What [`Precomputed`] holds: a tensor (copied out when taken), or elements already
/// in a vector of their own (handed over without a copy).
#[derive(Debug)]
enum Output {
    Tensor(Tensor),
    Elements(Vec<f32>, Shape),
}

impl Precomputed {
    /// Holds `t` until the custom op's forward takes it.
    pub(crate) fn new(t: Tensor) -> Self {
        Precomputed(Mutex::new(Some(Output::Tensor(t))))
    }

    /// Holds `data` of `shape` until the custom op's forward takes it.
    pub(crate) fn from_vec(data: Vec<f32>, shape: Shape) -> Self {
        Precomputed(Mutex::new(Some(Output::Elements(data, shape))))
    }

    /// Takes the output out (so a tensor is freed after its copy) as CPU storage.
    pub(crate) fn take(&self) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = self
            .0
            .lock()
            .map_err(|_| candle_core::Error::Msg("fused op: poisoned output slot".into()))?
            .take()
            .ok_or_else(|| candle_core::Error::Msg("fused op: forward ran twice".into()))?;
        match out {
            Output::Tensor(t) => Ok((CpuStorage::F32(f32_vec(&t)?), t.shape().clone())),
            Output::Elements(data, shape) => Ok((CpuStorage::F32(data), shape)),
        }
    }
}

/// A contiguous copy of an f32 CPU tensor's elements.
pub(crate) fn f32_vec(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    with_f32(t, |s| s.to_vec())
}

/// Runs `f` on the contiguous f32 elements of a CPU tensor (copying only when the
/// tensor is strided).
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => {
            let data = cpu.as_slice::<f32>()?;
            let (a, b) = layout
                .contiguous_offsets()
                .ok_or_else(|| candle_core::Error::Msg("fused op: strided tensor".into()))?;
            Ok(f(&data[a..b]))
        }
        _ => Err(candle_core::Error::Msg(
            "fused op: tensor is not on the CPU".into(),
        )),
    }
}

/// The contiguous f32 elements of one `cpu_fwd` argument.
pub(crate) fn cpu_slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused op: strided input".into()))?;
    Ok(&data[a..b])
}

/// The contiguous f32 elements of an in-place op's destination, writable.
pub(crate) fn cpu_slice_mut<'a>(
    s: &'a mut CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a mut [f32]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused op: strided destination".into()))?;
    match s {
        CpuStorage::F32(v) => Ok(&mut v[a..b]),
        _ => Err(candle_core::Error::Msg(
            "fused op: destination is not f32".into(),
        )),
    }
}

/// `n` zeros, written on all cores when `n` is large. `vec![0.0; n]` is one
/// single-threaded `memset` when glibc reuses heap memory (as `malloc_tuning` makes it
/// do); with candle's matmul fills (since removed, `vendor/README.md`) such fills were
/// 0.23 core-seconds of a full fine-tuning step, with the other core waiting.
pub(crate) fn zeroed(n: usize) -> Vec<f32> {
    const PARALLEL_FROM: usize = 1 << 16;
    if n < PARALLEL_FROM {
        return vec![0f32; n];
    }
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(0f32, n));
    v
}

/// Splits `rows` rows of `width` elements over the cores and runs `f` on each chunk:
/// `f(first_row, out_chunk)`, where `out_chunk` holds those rows' `out_width` outputs
/// each. The chunks run on rayon's pool, the threads gemm's matmuls already use, so
/// the element-wise passes never compete with idle-spinning matmul threads.
pub(crate) fn par_rows(
    rows: usize,
    out_width: usize,
    out: &mut [f32],
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let per = rows_per_task(rows);
    if per >= rows || out_width == 0 {
        f(0, out);
        return;
    }
    out.par_chunks_mut(per * out_width)
        .enumerate()
        .for_each(|(i, chunk)| f(i * per, chunk));
}

/// [`par_rows`] with two outputs of the same row width: `f(first_row, a_chunk, b_chunk)`.
pub(crate) fn par_rows2(
    rows: usize,
    out_width: usize,
    a: &mut [f32],
    b: &mut [f32],
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync + Send,
) {
    let per = rows_per_task(rows);
    if per >= rows || out_width == 0 {
        f(0, a, b);
        return;
    }
    a.par_chunks_mut(per * out_width)
        .zip(b.par_chunks_mut(per * out_width))
        .enumerate()
        .for_each(|(i, (ca, cb))| f(i * per, ca, cb));
}

/// Rows per task when `rows` rows are split into one task per pool thread.
pub(crate) fn rows_per_task(rows: usize) -> usize {
    let threads = rayon::current_num_threads().min(rows.max(1));
    rows.div_ceil(threads.max(1)).max(1)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Comparison helpers for the fused ops' unit tests.
    #![allow(clippy::unwrap_used)]
    use crate::rng::Rng;
    use candle_core::{Device, Shape, Tensor};
    use std::cell::Cell;

    thread_local! {
        /// Each test runs on its own thread: a per-thread stream makes its inputs
        /// reproducible whatever the test order.
        static STREAM: Cell<u64> = const { Cell::new(0x5EED) };
    }

    /// Seeded normal samples `mean + std·N(0, 1)` on the CPU.
    pub fn randn<S: Into<Shape>>(mean: f32, std: f32, shape: S) -> Tensor {
        let shape = shape.into();
        let mut rng = Rng::new(STREAM.with(|c| {
            let s = c.get();
            c.set(s.wrapping_add(1));
            s
        }));
        let v: Vec<f32> = rng
            .normal_vec(shape.elem_count(), std)
            .into_iter()
            .map(|x| x + mean)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// `max |a - b| / max(max |b|, 1e-6)`.
    pub fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let m = b
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        d / m.max(1e-6)
    }

    /// Gradients of `sum(y ⊙ probe)`: a random linear functional of `y`, so every
    /// input's gradient is exercised.
    pub fn probe_backward(y: &Tensor, probe: &Tensor) -> candle_core::backprop::GradStore {
        (y * probe).unwrap().sum_all().unwrap().backward().unwrap()
    }

    /// Asserts `a ≈ b` within `tol` relative to `b`'s largest magnitude.
    pub fn assert_close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
        assert_eq!(a.dims(), b.dims(), "{what}: shapes");
        let e = rel_err(a, b);
        assert!(e < tol, "{what}: relative error {e}");
    }
}
