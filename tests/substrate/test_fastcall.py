"""fastcall must agree with wasmtime-py's Func.__call__ (values, traps, exit codes)."""

from __future__ import annotations

import pytest
import wasmtime

from dream.wasm import fastcall

SRC = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "mix") (param i64 f32 f64) (result f64 i64 f32)
    (local.get 2) (local.get 0) (local.get 1))
  (func (export "none"))
  (func (export "boom") (param i32) (unreachable))
  (func (export "quit") (param i32) (call $exit (local.get 0))))"""


@pytest.fixture
def env() -> tuple[wasmtime.Store, dict[str, wasmtime.Func]]:
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    inst = linker.instantiate(store, wasmtime.Module(engine, SRC))
    funcs = {n: inst.exports(store)[n] for n in ("add", "mix", "none", "boom", "quit")}
    return store, funcs  # type: ignore[return-value]


def _norm(out: object) -> list[object]:
    return [] if out is None else (list(out) if isinstance(out, list) else [out])


@pytest.mark.parametrize(
    ("name", "args"),
    [("add", (1, 2)), ("add", (2**31 - 1, 1)), ("add", (-5, 3)), ("mix", (2**40, 1.5, -2.25)), ("none", ())],
)
def test_same_results_as_func_call(
    env: tuple[wasmtime.Store, dict[str, wasmtime.Func]], name: str, args: tuple
) -> None:
    store, funcs = env
    func = funcs[name]
    sig = fastcall.Signature(func.type(store))
    assert sig.fast == fastcall.FAST
    assert fastcall.call(store, func, sig, args) == _norm(func(store, *args))


def test_same_errors_as_func_call(env: tuple[wasmtime.Store, dict[str, wasmtime.Func]]) -> None:
    store, funcs = env
    boom = funcs["boom"]
    with pytest.raises(wasmtime.Trap) as slow:
        boom(store, 0)
    with pytest.raises(wasmtime.Trap) as fast:
        fastcall.call(store, boom, fastcall.Signature(boom.type(store)), (0,))
    assert fast.value.trap_code == slow.value.trap_code == wasmtime.TrapCode.UNREACHABLE
    quit_ = funcs["quit"]
    with pytest.raises(wasmtime.ExitTrap) as exited:
        fastcall.call(store, quit_, fastcall.Signature(quit_.type(store)), (7,))
    assert exited.value.code == 7


def test_export_func_and_arity(env: tuple[wasmtime.Store, dict[str, wasmtime.Func]]) -> None:
    store, funcs = env
    add = funcs["add"]
    with pytest.raises(wasmtime.WasmtimeError, match="expected 2 arguments"):
        fastcall.call(store, add, fastcall.Signature(add.type(store)), (1,))
