//! Running one computation per core: [`on_one_thread`] keeps all the CPU work a
//! generation starts on a single thread, for callers that run several generations at
//! once (the local teacher runs one per core).
//!
//! Without it, concurrent generations share candle's CPU pools: every quantized
//! matmul and element-wise op goes through one barrier pool whose callers queue on a
//! single lock, so two generations on the 2-core machine took turns and spun while
//! waiting (a fifth of the CPU time in `BarrierGuard::drop`, BENCHMARKS.md
//! "Generation").

use crate::error::{Result, SftError};

/// Runs `f` on a thread of its own with candle's CPU work kept on it: barrier-pool ops
/// inline (candle patch, `candle_core::utils::on_this_thread`), gemm without
/// parallelism, and rayon's parallel iterators (candle-nn's softmax, our fused ops) on
/// a one-thread pool. Results are the same as on the shared pools; only where the
/// work runs changes. The thread is started per call (tens of microseconds, against
/// the seconds of a generation).
pub fn on_one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "distill-generation".into())
        .build()
        .map_err(|e| SftError::Thread(format!("generation: {e}")))?;
    Ok(pool.install(|| candle_core::utils::on_this_thread(f)))
}
