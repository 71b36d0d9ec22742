"""One request's instance, start to end, on raw wasmtime C calls.

A fresh Store and instance per request is what keeps requests isolated, but through wasmtime-py's
objects (`Store`, `Instance`, `Func`, their finalizers and typed-pointer checks) that lifecycle costs
about twice the work the runtime does. Here every step is one ctypes call taking plain addresses:
new store, limits, epoch deadline, instantiate the pre-linked module, look up the export, call it
unchecked (raw values), delete the store. Failures are raised as wasmtime-py's own exception objects
(`Trap`, `ExitTrap`, `WasmtimeError`) inside `CallFailed`, with the memory the instance was using, so
callers explain them exactly as before. If a symbol is missing (another wasmtime-py), `AVAILABLE` is
False and `callpath.RawPath` reports the raw path unavailable; the module still imports.
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Any

import wasmtime

from dream.wasm import interrupt
from dream.wasm.callpath import CallFailed

_VP = ctypes.c_void_p
_WORDS_PER_SLOT = 4  # a wasmtime_val_raw_t is 16 bytes: four i32 words
_MEMORY = b"memory"

try:
    from wasmtime import _ffi as _ffi

    # The same library opened a second time as a PyDLL: its calls keep the GIL. For short calls that
    # never run guest code, releasing and taking back the GIL costs more than the call itself.
    _GIL_KEPT = ctypes.PyDLL(_ffi.dll._name)

    def handle(name: str, restype: Any, argtypes: list[Any], *, runs_guest: bool = False) -> Any:
        """A private ctypes function object taking plain addresses (wasmtime-py's shared ones insist on
        typed pointers). Only calls that run guest code (`runs_guest`) release the GIL: the guest may run
        long, and the epoch ticker thread needs the GIL to interrupt it."""
        fn = (_ffi.dll if runs_guest else _GIL_KEPT)[name]
        fn.restype = restype
        fn.argtypes = argtypes
        return fn

    _store_new = handle("wasmtime_store_new", _VP, [_VP, _VP, _VP])
    _store_context = handle("wasmtime_store_context", _VP, [_VP])
    _store_limiter = handle(
        "wasmtime_store_limiter",
        None,
        [_VP, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64],
    )
    _store_delete = handle("wasmtime_store_delete", None, [_VP])
    _set_deadline = handle("wasmtime_context_set_epoch_deadline", None, [_VP, ctypes.c_uint64])
    _set_wasi = handle("wasmtime_context_set_wasi", _VP, [_VP, _VP])
    _instantiate = handle("wasmtime_instance_pre_instantiate", _VP, [_VP, _VP, _VP, _VP], runs_guest=True)
    _export_get = handle(
        "wasmtime_instance_export_get", ctypes.c_bool, [_VP, _VP, ctypes.c_char_p, ctypes.c_size_t, _VP]
    )
    _call = handle(
        "wasmtime_func_call_unchecked", _VP, [_VP, _VP, _VP, ctypes.c_size_t, _VP], runs_guest=True
    )
    _memory_size = handle("wasmtime_memory_data_size", ctypes.c_size_t, [_VP, _VP])
    _Instance = _ffi.wasmtime_instance_t
    _Extern = _ffi.wasmtime_extern_t
    _FUNC = _ffi.WASMTIME_EXTERN_FUNC.value
    _MEM = _ffi.WASMTIME_EXTERN_MEMORY.value
    _trap_p = ctypes.POINTER(_ffi.wasm_trap_t)
    _error_p = ctypes.POINTER(_ffi.wasmtime_error_t)
    _UNLIMITED = -1
    AVAILABLE = True
except (ImportError, AttributeError):  # pragma: no cover - depends on the installed wasmtime-py
    AVAILABLE = False


def val_raw_size() -> int:
    """sizeof(wasmtime_val_raw_t) as this wasmtime-py declares it (0 if it does not)."""
    try:
        return ctypes.sizeof(_ffi.wasmtime_val_raw_t)
    except (NameError, AttributeError):
        return 0


class _Scratch:
    """Per-thread out-parameters for the C calls, allocated once, passed by address."""

    MAX_SLOTS = 4

    def __init__(self) -> None:
        self.instance = _Instance()
        self.item = _Extern()
        self.trap = _VP()
        self.slots = (ctypes.c_int32 * (_WORDS_PER_SLOT * self.MAX_SLOTS))()
        self.instance_at = ctypes.addressof(self.instance)
        self.item_at = ctypes.addressof(self.item)
        self.func_at = ctypes.addressof(self.item.of.func)
        self.trap_at = ctypes.addressof(self.trap)
        self.slots_at = ctypes.addressof(self.slots)
        self.memory_at = ctypes.addressof(self.item.of.memory)


_local = threading.local()
_clock = time.perf_counter_ns
_PAGE = 65536


def _scratch() -> _Scratch:
    try:
        scratch: _Scratch = _local.scratch
    except AttributeError:
        scratch = _local.scratch = _Scratch()
    return scratch


def run(
    engine: int,
    pre: int,
    init: bytes | None,
    export: bytes,
    nresults: int,
    memory_limit: int,
    deadline_ticks: int,
    wasi: wasmtime.WasiConfig | None,
    event: Any,
    control: interrupt.CallControl | None = None,
) -> None:
    """Instantiate, run `init` (if any, with no arguments) then `export(0)`; raises CallFailed.

    `event` (the call's HttpEvent) gets the store context address in `ctx` for the host functions.
    With a `control`, the store checks its deadline and cancel flag (`interrupt`) as it runs.

    `init` must take no parameters and `export` exactly one i32; both may return plain numbers only
    (the caller checked the types: an unchecked call trusts them).
    """
    scratch = _scratch()
    nslots = max(1, nresults)
    if nslots > _Scratch.MAX_SLOTS:
        raise CallFailed(
            wasmtime.WasmtimeError(
                f"export returns {nresults} values; at most {_Scratch.MAX_SLOTS} are supported"
            ),
            instantiated=False,
            used=None,
        )
    store = _store_new(engine, None, None)
    instantiated = False
    armed = 0
    try:
        ctx = _store_context(store)
        event.ctx = ctx  # host functions reach guest memory through it
        _store_limiter(store, memory_limit, _UNLIMITED, _UNLIMITED, _UNLIMITED, _UNLIMITED)
        _set_deadline(ctx, deadline_ticks)
        if control is not None:
            armed = interrupt.arm(store, control)
        if wasi is not None:
            error = _set_wasi(ctx, ctypes.cast(wasi._consume(), _VP))
            if error:
                raise CallFailed(error_at(error), instantiated=False, used=None)
        scratch.trap.value = None
        began = _clock()
        error = _instantiate(pre, ctx, scratch.instance_at, scratch.trap_at)
        instantiated_at = _clock()
        if error or scratch.trap.value:
            raise CallFailed(
                error_at(error) if error else trap_at(scratch.trap.value), instantiated=False, used=None
            )
        instantiated = True
        if init is not None:
            try:
                _invoke(ctx, scratch, init, 0)
            except CallFailed as exc:
                # Go-style commands leave _start through proc_exit(0): that is a normal start-up.
                if not (isinstance(exc.error, wasmtime.ExitTrap) and exc.error.code == 0):
                    raise
        scratch.slots[0] = 0  # the event id
        _invoke(ctx, scratch, export, nslots)
        # The request inspector's figures (when it counts this call's host calls). The memory's size
        # through the handle the host calls already found (one C call); else a look-up of the export.
        if event.host_calls is not None:
            event.wasm_ns = _clock() - instantiated_at
            event.instantiate_ns = instantiated_at - began
            memory = event.memory
            if memory is not None and memory.addr:
                event.pages = _memory_size(ctx, memory.addr) // _PAGE
            elif _export_get(ctx, scratch.instance_at, _MEMORY, len(_MEMORY), scratch.item_at) and (
                scratch.item.kind == _MEM
            ):
                event.pages = _memory_size(ctx, scratch.memory_at) // _PAGE
        if event.measure:
            event.used_memory = _used_memory(ctx, scratch.instance)
    except CallFailed as exc:
        if instantiated and exc.used is None:
            exc.used = _used_memory(_store_context(store), scratch.instance)
        raise
    finally:
        if armed:
            interrupt.disarm(armed)
        _store_delete(store)


def _invoke(ctx: int, scratch: _Scratch, name: bytes, nslots: int) -> None:
    if (
        not _export_get(ctx, scratch.instance_at, name, len(name), scratch.item_at)
        or scratch.item.kind != _FUNC
    ):
        raise KeyError(name.decode())
    scratch.trap.value = None
    error = _call(ctx, scratch.func_at, scratch.slots_at, nslots, scratch.trap_at)
    if error:
        raise CallFailed(error_at(error), instantiated=True, used=None)
    if scratch.trap.value:
        raise CallFailed(trap_at(scratch.trap.value), instantiated=True, used=None)


def _used_memory(ctx: int, instance: Any) -> int | None:
    item = _Extern()
    if (
        _export_get(ctx, ctypes.byref(instance), _MEMORY, len(_MEMORY), ctypes.byref(item))
        and item.kind == _MEM
    ):
        return int(_memory_size(ctx, ctypes.byref(item.of.memory)))
    return None


def error_at(pointer: Any) -> wasmtime.WasmtimeError:
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(pointer, _error_p))


def trap_at(pointer: Any) -> wasmtime.Trap:
    return wasmtime.Trap._from_ptr(ctypes.cast(pointer, _trap_p))
