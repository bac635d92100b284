//! Settings for candle's CPU thread pool, applied once at start-up.
//!
//! candle 0.11 runs element-wise ops on its own pool of worker threads, which spin
//! for 25,000 rounds after each op before they park
//! (`CANDLE_BARRIER_POOL_SPIN_LIMIT`). Matrix products run on a second pool
//! (rayon, inside the `gemm` crate). When other processes share the cores (a synth
//! run beside a fine-tune, CI), the spinning workers take cores from the matmul
//! threads that run right after: on the 2-core team machine, with a synth run
//! beside it, one LoRA step of SmolLM2-135M (`distill bench train --worker --modes
//! lora`) took 18.5 s with the default and 12.5 s with workers that park at once
//! (1.5×). On the quiet machine the two were within noise (113, 112, 103 against
//! 107, 99 tokens/s). See BENCHMARKS.md, "Training step vs PyTorch".

/// candle's environment variable for its pool workers' spin rounds.
const SPIN_LIMIT_VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";

/// Spin rounds used unless the user set [`SPIN_LIMIT_VAR`]: park at once.
const SPIN_LIMIT: &str = "0";

/// Makes candle's pool workers park at once, unless the user chose a spin limit.
/// Must run first in `main`, before any thread starts (the pool reads the variable
/// when it is first used; child processes inherit it).
pub fn tune_candle_pool() {
    if std::env::var_os(SPIN_LIMIT_VAR).is_none() {
        // SAFETY: called at the top of `main`, while the process has one thread, so
        // no other thread reads the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var(SPIN_LIMIT_VAR, SPIN_LIMIT);
        }
    }
}
