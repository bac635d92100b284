//! glibc malloc settings for tensor work, applied once at start-up.
//!
//! By default glibc serves every allocation above 32 MiB (and, after its dynamic
//! threshold grows, many smaller ones) with a fresh `mmap`, and returns it with
//! `munmap` when freed. A training step allocates and frees hundreds of such buffers
//! (logits, their gradient, weight gradients in full fine-tuning), so every step paid
//! for page faults, the kernel zeroing those pages, and TLB-shootdown interrupts to the
//! other cores on each `munmap`. With mmap off and trimming raised, freed buffers stay
//! in the heap and the next step reuses them. Measured with
//! `distill bench train --worker --steps 3` on the 2-core team machine, one process
//! each, alternating: full fine-tuning 151 against 125 tokens/s, LoRA 178 against 161,
//! peak RSS unchanged (BENCHMARKS.md, "Training step vs PyTorch").

/// Largest heap top left untrimmed after frees (glibc takes an `int`): 2 GiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = libc::c_int::MAX;

/// Turns off glibc's mmap for large allocations and keeps freed memory for reuse,
/// unless the user set `GLIBC_TUNABLES` (their malloc settings win). A no-op on
/// other C libraries.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        // SAFETY: mallopt only changes allocator parameters; it is called at the top
        // of `main`, before any other thread exists.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
