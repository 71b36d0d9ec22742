"""Call exported wasm functions without `Func.__call__`'s per-call type reflection.

`Func.__call__` re-fetches the FuncType, builds ValType objects and converts every value on each call
(12-33 us). Here the signature is read once (`Signature`) and each call fills a ctypes array and calls
`wasmtime_func_call` directly (~4 us). Errors are raised exactly as `Func.__call__` raises them
(`wasmtime.Trap`, `wasmtime.WasmtimeError`, `wasmtime.ExitTrap`), so callers handle both paths alike.
If the ffi symbols this relies on are missing (a future wasmtime-py), `FAST` is False and calls go
through `Func.__call__`.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import wasmtime

try:
    from wasmtime import _ffi as _ffi
    from wasmtime import _func as _wfunc

    _val_t = _ffi.wasmtime_val_t
    _call = _ffi.wasmtime_func_call
    _trap_ptr_t = ctypes.POINTER(_ffi.wasm_trap_t)
    _KINDS = {
        "i32": (_ffi.WASMTIME_I32.value, "i32"),
        "i64": (_ffi.WASMTIME_I64.value, "i64"),
        "f32": (_ffi.WASMTIME_F32.value, "f32"),
        "f64": (_ffi.WASMTIME_F64.value, "f64"),
    }
    _raise_pending_python_error = _wfunc.maybe_raise_last_exn
    FAST = True
except (ImportError, AttributeError):  # pragma: no cover - depends on the installed wasmtime-py
    FAST = False

Number = int | float


def _kind_name(ty: wasmtime.ValType) -> str | None:
    for name in ("i32", "i64", "f32", "f64"):
        if ty == getattr(wasmtime.ValType, name)():
            return name
    return None


class Signature:
    """The numeric parameter/result kinds of one function type, computed once per module export."""

    __slots__ = ("fast", "name", "nparams", "nresults", "param_kinds", "result_fields")

    def __init__(self, ty: wasmtime.FuncType, name: bytes = b"", *, fast: bool = True) -> None:
        self.name = name  # the export's name, encoded once
        params = [_kind_name(t) for t in ty.params]
        results = [_kind_name(t) for t in ty.results]
        self.nparams = len(params)
        self.nresults = len(results)
        # Only plain numbers take the fast path; reference types need rooting, so leave them to wasmtime-py.
        self.fast = fast and FAST and None not in params and None not in results
        if self.fast:
            self.param_kinds = tuple(_KINDS[p] for p in params)  # type: ignore[index]  # None excluded just above
            self.result_fields = tuple(_KINDS[r][1] for r in results)  # type: ignore[index]  # None excluded just above
        else:
            self.param_kinds = ()
            self.result_fields = ()


def call(store: wasmtime.Store, func: wasmtime.Func, sig: Signature, args: Sequence[Number]) -> list[Number]:
    """Call `func` with `args`; returns the results as a list (empty for `() -> ()`)."""
    if not sig.fast:
        return _slow_call(store, func, args)
    if len(args) != sig.nparams:
        raise wasmtime.WasmtimeError(f"expected {sig.nparams} arguments, got {len(args)}")
    params = (_val_t * sig.nparams)()
    for i, (kind, fieldname) in enumerate(sig.param_kinds):
        slot = params[i]
        slot.kind = kind  # type: ignore[assignment]  # a ctypes c_uint8 field takes an int
        setattr(slot.of, fieldname, args[i])
    results = (_val_t * sig.nresults)()
    trap = _trap_ptr_t()
    error = _call(
        store._context(),
        ctypes.byref(func._func),
        params,
        sig.nparams,
        results,
        sig.nresults,
        ctypes.byref(trap),
    )
    if error:
        _raise_pending_python_error()
        raise wasmtime.WasmtimeError._from_ptr(error)
    if trap:
        trap_obj = wasmtime.Trap._from_ptr(trap)
        _raise_pending_python_error()
        raise trap_obj
    return [getattr(results[i].of, f) for i, f in enumerate(sig.result_fields)]


def export_func(store: wasmtime.Store, instance: wasmtime.Instance, name: str) -> wasmtime.Func:
    """The exported function `name` of `instance`, looked up by name alone (KeyError if absent).

    `Instance.exports()` wraps every export of the module; a function module only needs one or two.
    """
    if not FAST:
        func = instance.exports(store)[name]
        if not isinstance(func, wasmtime.Func):
            raise KeyError(name)
        return func
    raw = name.encode()
    item = _ffi.wasmtime_extern_t()
    found = _ffi.wasmtime_instance_export_get(
        store._context(),
        ctypes.byref(instance._instance),
        ctypes.create_string_buffer(raw),
        len(raw),
        ctypes.byref(item),
    )
    if not found or item.kind != _ffi.WASMTIME_EXTERN_FUNC.value:
        raise KeyError(name)
    return wasmtime.Func._from_raw(item.of.func)


def _slow_call(store: wasmtime.Store, func: wasmtime.Func, args: Sequence[Number]) -> list[Number]:
    out = func(store, *args)
    if out is None:
        return []
    return list(out) if isinstance(out, list) else [out]


__all__ = ["FAST", "Signature", "call", "export_func"]
