//! The shared wasmtime engine: settings, and the background thread that advances the
//! epoch so running guests can be interrupted and made to yield.

use crate::SandboxError;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};
use std::time::Duration;
use wasmtime::{
    Config, Enabled, Engine, Inlining, InstanceAllocationStrategy, OptLevel,
    PoolingAllocationConfig,
};

/// How often the epoch advances; a running guest yields to the executor (and checks its
/// deadline) once per tick.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Native stack the guest may use (wasmtime's default of 512 KiB is too small for
/// CPython's C-level recursion before Python's own `RecursionError` check fires).
const MAX_WASM_STACK: usize = 8 << 20;

/// Instances the pooling allocator can hold at once (jobs in flight).
const POOL_INSTANCES: u32 = 64;

/// Bytes of each pooled linear memory kept resident between jobs and reset in place.
const KEEP_RESIDENT: usize = 512 << 20;

/// Builds the engine with the settings the sandbox relies on. `interruptible` compiles
/// epoch checks into the guest (10–25% slower on CPU-bound code) so a deadline can stop
/// it in place; without them only the whole process can be stopped (worker processes).
pub(crate) fn new_engine(interruptible: bool) -> Result<Engine, SandboxError> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(interruptible)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK + (1 << 20))
        .memory_init_cow(true)
        .parallel_compilation(true)
        .cranelift_opt_level(OptLevel::Speed)
        // Small functions are inlined into their callers, within and across the
        // component's core modules, so CPython's C calls (`PyNumber_Remainder` into
        // `binary_op1`, `long_mod` into `l_mod`) cost less. Measured on one worker:
        // HumanEval/75 (pure Python loops) 196-204 ms -> 187-192 ms, while 1,600
        // short HumanEval jobs take 2-4% longer (more code to fetch); the 164
        // HumanEval programs' total time inside the sandbox drops about 5%. The
        // compiled artifact doubles (40 to 80 MB) and takes longer to compile once.
        .compiler_inlining(Inlining::Yes);
    {
        // Pooled slots are reused between jobs, which saves mmap/munmap per instance.
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 16)
            .total_memories(POOL_INSTANCES * 4)
            .total_tables(POOL_INSTANCES * 8)
            .total_stacks(POOL_INSTANCES)
            .max_core_instances_per_component(64)
            .max_memories_per_component(16)
            .max_tables_per_component(32)
            .max_memory_size(1 << 32)
            .table_elements(1 << 16)
            .max_core_instance_size(1 << 20)
            .max_component_instance_size(1 << 20)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(1 << 20)
            .async_stack_keep_resident(MAX_WASM_STACK + (1 << 20))
            .decommit_batch_size(32)
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config).map_err(SandboxError::engine)
}

/// A stable-within-a-build key for the engine's version and compilation settings,
/// used to key the compiled-artifact cache.
pub(crate) fn settings_key(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
pub(crate) fn start_epoch_ticker(engine: &Arc<Engine>) {
    let weak: Weak<Engine> = Arc::downgrade(engine);
    let spawned = std::thread::Builder::new()
        .name("distill-sandbox-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(err) = spawned {
        tracing::error!("could not start the epoch thread, deadlines will not fire: {err}");
    }
}

#[cfg(test)]
mod funcref_tests;
#[cfg(test)]
mod reset_tests;

/// A core module compiled and prelinked with the sandbox's engine settings (pooling,
/// copy-on-write images, resident reset), for the engine tests.
#[cfg(test)]
#[allow(clippy::expect_used)]
fn prelink_for_tests(wasm: &[u8]) -> (Engine, wasmtime::InstancePre<()>) {
    let engine = new_engine(false).expect("engine");
    let module = wasmtime::Module::new(&engine, wasm).expect("test module");
    let pre = wasmtime::Linker::<()>::new(&engine)
        .instantiate_pre(&module)
        .expect("prelink");
    (engine, pre)
}
