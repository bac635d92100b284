//! The pooled memory reset between jobs: a fresh instance in a reused slot sees the
//! pristine memory image, and the pages a job dirtied stay resident (reset in place,
//! no page faults for the next job) even when they form many disjoint runs. The second
//! half is what `vendor/wasmtime` fixes: wasmtime 48.0.8 stopped its dirty-page scan
//! after 32 runs and unmapped the rest, so a CPython heap re-faulted on every job.

#![allow(clippy::expect_used)]

use super::prelink_for_tests;
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, ExportKind, ExportSection, Function, FunctionSection,
    Instruction, MemArg, MemorySection, MemoryType, Module, TypeSection, ValType,
};
use wasmtime::Store;

/// Distance between the bytes `dirty` writes: every other 4 KiB host page, so each
/// written page is its own run.
const STRIDE: i32 = 8192;
/// Pages `dirty` writes; far more than the 32 runs one scan round reports.
const PAGES: i32 = 300;
/// The data segment at address 0 (little-endian 0x04030201 when read as an i32).
const IMAGE: [u8; 4] = [1, 2, 3, 4];

fn byte_at_stride(i_local: u32) -> [Instruction<'static>; 3] {
    [
        Instruction::LocalGet(i_local),
        Instruction::I32Const(STRIDE),
        Instruction::I32Mul,
    ]
}

fn mem(align: u32) -> MemArg {
    MemArg {
        offset: 0,
        align,
        memory_index: 0,
    }
}

/// `for i in 1..=n { body(i) }` with `n` in local 0 and `i` in local 1.
fn counted_loop(f: &mut Function, body: &[Instruction<'static>]) {
    let head = [
        Instruction::I32Const(1),
        Instruction::LocalSet(1),
        Instruction::Block(wasm_encoder::BlockType::Empty),
        Instruction::Loop(wasm_encoder::BlockType::Empty),
        Instruction::LocalGet(1),
        Instruction::LocalGet(0),
        Instruction::I32GtU,
        Instruction::BrIf(1),
    ];
    let tail = [
        Instruction::LocalGet(1),
        Instruction::I32Const(1),
        Instruction::I32Add,
        Instruction::LocalSet(1),
        Instruction::Br(0),
        Instruction::End,
        Instruction::End,
    ];
    for ins in head.iter().chain(body).chain(&tail) {
        f.instruction(ins);
    }
}

/// A module with a 4 MiB memory initialized from `IMAGE` and three exports:
/// `dirty(n)` writes 0xAB at `i * STRIDE` for `i` in `1..=n`, `marked(n)` counts those
/// bytes that are not zero, `first()` reads the i32 at address 0.
fn probe_module() -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], []);
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    functions.function(0).function(1).function(2);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 64,
        maximum: Some(64),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports
        .export("dirty", ExportKind::Func, 0)
        .export("marked", ExportKind::Func, 1)
        .export("first", ExportKind::Func, 2);

    let mut code = CodeSection::new();
    let mut dirty = Function::new([(1, ValType::I32)]);
    let mut body = byte_at_stride(1).to_vec();
    body.extend([Instruction::I32Const(0xAB), Instruction::I32Store8(mem(0))]);
    counted_loop(&mut dirty, &body);
    dirty.instruction(&Instruction::End);
    code.function(&dirty);

    let mut marked = Function::new([(2, ValType::I32)]);
    let mut body = vec![Instruction::LocalGet(2)];
    body.extend(byte_at_stride(1));
    body.extend([
        Instruction::I32Load8U(mem(0)),
        Instruction::I32Const(0),
        Instruction::I32Ne,
        Instruction::I32Add,
        Instruction::LocalSet(2),
    ]);
    counted_loop(&mut marked, &body);
    marked.instruction(&Instruction::LocalGet(2));
    marked.instruction(&Instruction::End);
    code.function(&marked);

    let mut first = Function::new([]);
    first.instruction(&Instruction::I32Const(0));
    first.instruction(&Instruction::I32Load(mem(2)));
    first.instruction(&Instruction::End);
    code.function(&first);

    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(0), IMAGE);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&code)
        .section(&data);
    module.finish()
}

/// Minor page faults of the calling thread so far (`/proc/thread-self/stat`, field 10).
fn thread_minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("procfs");
    let after_name = &stat[stat.rfind(')').expect("stat has a name") + 1..];
    after_name
        .split_whitespace()
        .nth(7)
        .and_then(|field| field.parse().ok())
        .expect("minflt field")
}

#[test]
fn reused_slot_is_pristine_and_dirty_pages_stay_resident() {
    let (engine, pre) = prelink_for_tests(&probe_module());
    let mut faults_per_round = Vec::new();
    for round in 0..4 {
        let mut store = Store::new(&engine, ());
        let instance = pre.instantiate(&mut store).expect("instantiate");
        let dirty = instance
            .get_typed_func::<i32, ()>(&mut store, "dirty")
            .expect("dirty");
        let marked = instance
            .get_typed_func::<i32, i32>(&mut store, "marked")
            .expect("marked");
        let first = instance
            .get_typed_func::<(), i32>(&mut store, "first")
            .expect("first");
        // Freshness: nothing the previous instance wrote is visible, the image is intact.
        assert_eq!(
            marked.call(&mut store, PAGES).expect("marked"),
            0,
            "round {round}"
        );
        assert_eq!(
            first.call(&mut store, ()).expect("first"),
            i32::from_le_bytes(IMAGE),
            "round {round}"
        );
        let before = thread_minor_faults();
        dirty.call(&mut store, PAGES).expect("dirty");
        faults_per_round.push(thread_minor_faults() - before);
        assert_eq!(marked.call(&mut store, PAGES).expect("marked"), PAGES);
    }
    // The first round touches every page once (one fault each). Later rounds reuse the
    // slot, whose dirty pages were reset in place: a handful of faults at most, where
    // an unfinished scan (stopped after 32 runs) leaves PAGES - 32 pages to fault again.
    assert!(
        faults_per_round[0] >= PAGES as u64 / 2,
        "the first round should fault its pages in: {faults_per_round:?}"
    );
    for (round, faults) in faults_per_round.iter().enumerate().skip(1) {
        assert!(
            *faults < 32,
            "round {round} faulted {faults} pages back in ({faults_per_round:?})"
        );
    }
}
