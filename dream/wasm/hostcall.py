"""Define host functions that receive raw wasm values, bypassing wasmtime-py's generic trampoline.

`Linker.define_func` wraps every host call in a `Caller` object, `Val` objects per argument and a
FuncType reflection per result (~25 us for a 4-argument call). Here each function gets one ctypes
callback registered with `wasmtime_linker_define_func_unchecked` whose arguments are plain addresses:
the i32/i64 arguments are unpacked from the `wasmtime_val_raw_t` array in one go and the i32 result is
written back in place (~2 us). The implementation receives the `wasmtime_caller_t` address as an int
(see `guest_memory.Guest`). If the C symbols are missing, `define` falls back to
`Linker.define_func(access_caller=...)`; the implementation then gets a `wasmtime.Caller`, which
`Guest` also accepts. Which of the two a host uses is its call path's choice (`callpath`).
"""

from __future__ import annotations

import ctypes
import logging
import struct
import threading
from collections.abc import Callable
from typing import Any

import wasmtime

log = logging.getLogger("dream.wasm")

VAL_RAW_SIZE = 16  # sizeof(wasmtime_val_raw_t): a union as wide as a v128
# The raw value array arrives as a plain address: a typed pointer would be a ctypes object per call.
_CALLBACK_T = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t
)
_RESULT = struct.Struct("<i")
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))

try:
    from wasmtime import _ffi as _ffi

    # A private handle so the callback type can take plain addresses (the shared binding insists on
    # typed pointers, which ctypes would have to construct for every call).
    _define_unchecked = _ffi.dll["wasmtime_linker_define_func_unchecked"]
    _define_unchecked.restype = ctypes.c_void_p
    _define_unchecked.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_void_p,
        _CALLBACK_T,
        ctypes.c_void_p,
        ctypes.CFUNCTYPE(None, ctypes.c_void_p),
    ]
    _error_t = ctypes.POINTER(_ffi.wasmtime_error_t)
    RAW = True
except (ImportError, AttributeError):  # pragma: no cover - depends on the installed wasmtime-py
    RAW = False

SDK = "taubyte/sdk"  # the host module of the Taubyte host calls
_KINDS = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}
_FORMATS = {"i32": "i12x", "i64": "q8x"}  # each argument sits at the start of a 16-byte slot
# ctypes callbacks must outlive every linker and store that can call them: keep them for the process.
_CALLBACKS: dict[tuple[str, str, Callable[..., Any], bool], Any] = {}


# Host calls made by the call running on this thread, by host function name (the request inspector's
# "host calls by kind"): `FunctionModule.call` starts a fresh count per call with `tally_begin`. Only
# host functions defined while counting is on count (`count_calls`, set before the first WasmHost):
# with it off, their callbacks hold no counting code at all.
class _Tally(threading.local):
    counts: dict[str, int] | None = None  # every thread starts with none: a plain attribute read, no miss


_tally = _Tally()
_counting = False
_sink: object | None = None


def count_calls(on: bool, sink: object | None = None) -> None:
    """Count host calls in the host functions defined from now on (the substrate turns it on when its
    request inspector is on, before it makes its WasmHost). `sink`: where a call answered in one C call
    leaves its counts instead of in a new dict (`serve_counts`): the substrate's native ring of records,
    which its record of the call takes them from."""
    global _counting, _sink
    _counting = on
    _sink = sink if on else None


def counting() -> bool:
    return _counting


def serve_counts() -> Any:
    """What `FunctionModule.serve` hands the C serve() for the call's host-call counts: None when not
    counting, else the sink (`count_calls`), else a new dict."""
    if not _counting:
        return None
    return {} if _sink is None else _sink


def tally_begin() -> dict[str, int]:
    """A fresh count of this thread's host calls, filled until the next `tally_begin`."""
    counts: dict[str, int] = {}
    _tally.counts = counts
    return counts


def _counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, counting its calls in this thread's tally."""
    tally = _tally

    def counted(*args: Any) -> Any:
        counts = tally.counts
        if counts is not None:
            counts[name] = counts.get(name, 0) + 1
        return fn(*args)

    return counted


def _guard(module: str, name: str, fn: Callable[..., Any], has_result: bool) -> Callable[..., Any]:
    """`fn` made total: an exception is logged and becomes errno 5 (or nothing for `-> ()` functions).

    Nothing may escape a host function: a ctypes callback cannot propagate it, and wasmtime-py parks
    trampoline exceptions in a process-global slot that another thread's call could pick up.
    """
    failed = 5 if has_result else None  # errno.HTTP_WRITE

    def guarded(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            log.exception("host function %s.%s failed", module, name)
            return failed

    return guarded


def _raw_callback(
    module: str,
    name: str,
    fn: Callable[..., Any],
    params: tuple[str, ...],
    has_result: bool,
    takes_caller: bool,
    counting: bool = False,
) -> Any:
    # Each argument sits at the start of a 16-byte slot: one unpack reads them all. The shape of the
    # callback is chosen here, once, so a call runs no branches it does not need.
    unpack = struct.Struct("<" + "".join(_FORMATS[p] for p in params)).unpack_from
    size = max(VAL_RAW_SIZE * len(params), VAL_RAW_SIZE if has_result else 0)
    buffer_at = (ctypes.c_char * max(size, 1)).from_address
    put = _RESULT.pack_into
    failed = 5  # errno.HTTP_WRITE

    def failure() -> int:
        # Exceptions end here (logged; errno 5 for functions with a result), see `_guard`.
        log.exception("host function %s.%s failed", module, name)
        return failed

    if has_result and takes_caller:
        # The usual shape, with the inspector's count inline when counting (a wrapper would cost a
        # Python call more).
        tally = _tally if counting else None

        def callback(_env: int | None, caller: int, vals: int, _count: int) -> int:
            if tally is not None:
                counts = tally.counts
                if counts is not None:
                    counts[name] = counts.get(name, 0) + 1
            raw = buffer_at(vals)
            try:
                out = fn(caller, *unpack(raw))
            except Exception:
                out = failure()
            put(raw, 0, out if out is not None else failed)
            return 0  # no trap

    elif counting:
        return _raw_callback(module, name, _counted(name, fn), params, has_result, takes_caller)

    elif takes_caller:

        def callback(_env: int | None, caller: int, vals: int, _count: int) -> int:
            try:
                fn(caller, *(unpack(buffer_at(vals)) if params else ()))
            except Exception:
                failure()
            return 0

    else:

        def callback(_env: int | None, caller: int, vals: int, _count: int) -> int:
            raw = buffer_at(vals)
            try:
                out = fn(*(unpack(raw) if params else ()))
            except Exception:
                out = failure()
            if has_result:
                put(raw, 0, out if out is not None else failed)
            return 0

    return _CALLBACK_T(callback)


def define(
    linker: wasmtime.Linker,
    module: str,
    name: str,
    params: tuple[str, ...],
    has_result: bool,
    fn: Callable[..., Any],
    *,
    takes_caller: bool = True,
    raw: bool = True,
) -> None:
    """Define `module.name` with i32/i64 `params` and an optional i32 result.

    The implementation is called as `fn(caller, *args)`, or `fn(*args)` with `takes_caller=False`; the
    caller is a `wasmtime_caller_t` address with `raw` (an unchecked C callback; needs `RAW`), else a
    `wasmtime.Caller` (wasmtime-py's trampoline). Exceptions it raises are logged and turned into errno 5.
    """
    ty = functype(params, has_result)
    key = (module, name, fn, _counting)
    if not (raw and RAW):
        counted = _counted(name, fn) if _counting else fn
        linker.define_func(
            module, name, ty, _guard(module, name, counted, has_result), access_caller=takes_caller
        )
        return
    cb = _CALLBACKS.get(key)
    if cb is None:
        cb = _CALLBACKS[key] = _raw_callback(module, name, fn, params, has_result, takes_caller, _counting)
    mod_b, name_b = module.encode(), name.encode()
    error = _define_unchecked(
        ctypes.cast(linker.ptr(), ctypes.c_void_p),
        mod_b,
        len(mod_b),
        name_b,
        len(name_b),
        ctypes.cast(ty.ptr(), ctypes.c_void_p),
        cb,
        None,
        _NO_FINALIZER,
    )
    raise_error(error)


def functype(params: tuple[str, ...], has_result: bool) -> wasmtime.FuncType:
    """The type of a host function with i32/i64 `params` and an optional i32 result."""
    return wasmtime.FuncType([_KINDS[p]() for p in params], [wasmtime.ValType.i32()] if has_result else [])


def raise_error(error: int | None) -> None:
    """Raise the `wasmtime_error_t` at address `error` (the caller's to free) as wasmtime-py's exception."""
    if error:
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, _error_t))
