//! Function references built by `ref.func`: the code pointers wasmtime puts in them come
//! from `vendor/wasmtime`'s per-module table of function locations (a distill patch), so
//! this checks that every reference calls the function it names, through `call_indirect`
//! (the wasm-to-wasm pointer) and from the host (the array-call trampoline), in fresh
//! instances of a reused pool slot.

#![allow(clippy::expect_used)]

use super::prelink_for_tests;
use std::borrow::Cow;
use wasm_encoder::{
    CodeSection, ElementSection, Elements, ExportKind, ExportSection, Function, FunctionSection,
    Instruction, Module, RefType, TableSection, TableType, TypeSection, ValType,
};
use wasmtime::Store;

/// Functions in the table; function `k` returns `BASE + k`.
const FUNCS: u32 = 6;
const BASE: i32 = 100;

/// Types: 0 `() -> i32` (the table's functions), 1 `(i32) -> i32` (`call`), 2 `() -> ()`
/// (`fill`). Functions `0..FUNCS` return `BASE + k`; `fill` stores `ref.func k` at
/// table slot `FUNCS - 1 - k` (reversed, so slot and function differ); `call(i)` calls
/// table slot `i` indirectly.
fn funcref_module() -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    for _ in 0..FUNCS {
        functions.function(0);
    }
    functions.function(2).function(1);
    let (fill_index, call_index) = (FUNCS, FUNCS + 1);
    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: u64::from(FUNCS),
        maximum: Some(u64::from(FUNCS)),
        shared: false,
    });
    let mut exports = ExportSection::new();
    exports
        .export("fill", ExportKind::Func, fill_index)
        .export("call", ExportKind::Func, call_index)
        .export("table", ExportKind::Table, 0);
    let declared: Vec<u32> = (0..FUNCS).collect();
    let mut elements = ElementSection::new();
    elements.declared(Elements::Functions(Cow::Owned(declared)));

    let mut code = CodeSection::new();
    for k in 0..FUNCS {
        let mut f = Function::new([]);
        f.instruction(&Instruction::I32Const(BASE + k as i32));
        f.instruction(&Instruction::End);
        code.function(&f);
    }
    let mut fill = Function::new([]);
    for k in 0..FUNCS {
        fill.instruction(&Instruction::I32Const((FUNCS - 1 - k) as i32));
        fill.instruction(&Instruction::RefFunc(k));
        fill.instruction(&Instruction::TableSet(0));
    }
    fill.instruction(&Instruction::End);
    code.function(&fill);
    let mut call = Function::new([]);
    call.instruction(&Instruction::LocalGet(0));
    call.instruction(&Instruction::CallIndirect {
        type_index: 0,
        table_index: 0,
    });
    call.instruction(&Instruction::End);
    code.function(&call);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&tables)
        .section(&exports)
        .section(&elements)
        .section(&code);
    module.finish()
}

#[test]
fn ref_func_references_call_the_functions_they_name() {
    let (engine, pre) = prelink_for_tests(&funcref_module());
    for round in 0..3 {
        let mut store = Store::new(&engine, ());
        let instance = pre.instantiate(&mut store).expect("instantiate");
        let fill = instance
            .get_typed_func::<(), ()>(&mut store, "fill")
            .expect("fill");
        let call = instance
            .get_typed_func::<i32, i32>(&mut store, "call")
            .expect("call");
        let table = instance.get_table(&mut store, "table").expect("table");
        fill.call(&mut store, ()).expect("fill");
        for slot in 0..FUNCS {
            let expected = BASE + (FUNCS - 1 - slot) as i32;
            // Wasm to wasm: `call_indirect` uses the reference's wasm-call pointer.
            let got = call.call(&mut store, slot as i32).expect("call_indirect");
            assert_eq!(got, expected, "round {round}, slot {slot}, call_indirect");
            // Host to wasm: `Func::call` goes through the array-call trampoline.
            let func = table
                .get(&mut store, u64::from(slot))
                .and_then(|r| r.as_func().flatten().copied())
                .expect("a function in the slot");
            let got = func
                .typed::<(), i32>(&store)
                .expect("type")
                .call(&mut store, ())
                .expect("host call");
            assert_eq!(got, expected, "round {round}, slot {slot}, host call");
        }
    }
}
