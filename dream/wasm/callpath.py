"""How a request's instance is made and called, and how host functions are reached: four ways, one interface.

- `native` (`NativePath`): the compiled extension (`native`, `_native/nativecall.c`) runs a request's
  whole call in C, and the HTTP event host calls every function makes (event type, method, host, path,
  status, body writes) are C callbacks; the other host functions are the raw path's. Needs the
  extension built by `scripts/setup-venv`; without it the raw path is used, saying why.
- `raw` (`RawPath`): raw C calls on plain addresses (`rawcall`) and host functions as unchecked C
  callbacks reading wasmtime's raw value array (`hostcall`). The fastest; it relies on C struct layouts
  (`wasmtime_val_raw_t`, `wasmtime_extern_t`) and private wasmtime-py attributes (`_ffi`,
  `WasiConfig._consume`, `Trap._from_ptr`).
- `object` (`ObjectPath`): wasmtime-py's `Store`/`Instance` objects, calls through its typed ffi
  bindings without per-call reflection (`fastcall`: `_ffi`, `Func._from_raw`), host functions through
  `Linker.define_func`.
- `plain` (`PlainPath`): wasmtime-py's public API only. Always importable, and the one to fall back to
  when a wasmtime-py release changes what the others rely on.

`selftest.choose` picks one per process when the first `WasmHost` starts. Stopping a call at its
deadline or on a cancel (`interrupt`, wasmtime's epoch deadline callback) is not part of the path: every
path uses it when wasmtime-py's library exposes it.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import wasmtime

from dream.wasm import fastcall, hostcall, interrupt

# One planned call: run(memory_limit, ticks, wasi, event, control); raises CallFailed.
Run = Callable[[int, int, "wasmtime.WasiConfig | None", Any, "interrupt.CallControl | None"], None]

# An HTTP answer made in one C call (`NativePath.plan_serve`): (status, headers as the server writes
# them, body, instantiate ns, wasm ns, linear memory pages, response header problems).
Served = tuple[int, list[tuple[bytes, bytes]], bytes, int, int, int, int]
# serve(memory_limit, ticks, method, host, path, host-call counts or None) -> Served, or when the call
# failed the 4-tuple `NativePath.raise_failed` raises from.
Serve = Callable[[int, int, bytes, bytes, bytes, "dict[str, int] | None"], Any]
# odd(name, value, log it) -> (errno, the (bytes, bytes) field to send or None, dropped or rewritten).
OddHeader = Callable[[str, str, bool], tuple[int, "tuple[bytes, bytes] | None", bool]]

ENV = (
    "DREAM_WASM_CALL"  # native | raw | object | plain | auto (unset): the best path that passes its self-test
)


class CallFailed(Exception):
    """The guest or the runtime failed; `error` is wasmtime-py's exception for it."""

    def __init__(
        self, error: wasmtime.Trap | wasmtime.WasmtimeError, *, instantiated: bool, used: int | None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.instantiated = instantiated  # False: it failed before the module was instantiated
        self.used = used  # bytes of linear memory in use when it failed (None: unknown)


def address(pointer: Any) -> int:
    """The plain address of a ctypes pointer (a wasmtime-py object's `ptr()`)."""
    return int(ctypes.cast(pointer, ctypes.c_void_p).value or 0)


class Linked:
    """A module pre-linked for calls on one path (`CallPath.link`): what each call needs, found once."""

    __slots__ = ("engine", "engine_address", "init", "init_name", "init_sig", "pre", "pre_address")

    def __init__(
        self, engine: wasmtime.Engine, pre: wasmtime.InstancePre, init: str | None, init_sig: Any
    ) -> None:
        self.engine = engine
        self.pre = pre
        self.init = init  # `_initialize` or `_start`, run before the export
        self.init_name = init.encode() if init else None
        self.init_sig: fastcall.Signature | None = init_sig
        self.engine_address = 0  # plain addresses, for the raw path
        self.pre_address = 0


class CallPath:
    """One way to call a guest. These steps use wasmtime-py's public API only (they are the plain
    path); the faster paths override the steps they do another way."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # what it is, for the start-up line
    raw_callbacks: ClassVar[bool] = False  # host functions as raw C callbacks (hostcall.py)

    def problem(self) -> str | None:
        """What this wasmtime-py lacks for the path (None: nothing it can check before a call)."""
        return None

    def define(self, linker: wasmtime.Linker, *spec: Any, takes_caller: bool = True) -> None:
        """Define a host function in `linker`: `spec` is `hostcall.define`'s (module, name, i32/i64
        params, whether it has an i32 result, the implementation)."""
        hostcall.define(linker, *spec, takes_caller=takes_caller, raw=self.raw_callbacks)

    native_host_calls: frozenset[str] = frozenset()  # taubyte/sdk host calls done in C on this path

    def signature(self, ty: wasmtime.FuncType, name: bytes = b"") -> fastcall.Signature:
        return fastcall.Signature(ty, name, fast=False)

    def plan_serve(self, linked: Linked, sig: fastcall.Signature, odd: OddHeader) -> Serve | None:
        """An HTTP request's call in one C call (`NativePath`); None: this path calls through `plan`."""
        return None

    def link(
        self, engine: wasmtime.Engine, pre: wasmtime.InstancePre, init: str | None, init_ty: Any
    ) -> Linked:
        return Linked(engine, pre, init, self.signature(init_ty) if init_ty is not None else None)

    def plan(self, linked: Linked, sig: fastcall.Signature) -> Run:
        """How to call the export with `sig` of `linked`, decided once per export: a `Run`, called as
        `run(memory_limit, ticks, wasi, event, control)` for each request."""
        return functools.partial(self.run, linked, sig)

    def run(
        self,
        linked: Linked,
        sig: fastcall.Signature,
        memory_limit: int,
        ticks: int,
        wasi: wasmtime.WasiConfig | None,
        event: Any,
        control: interrupt.CallControl | None,
    ) -> None:
        """Instantiate, run the module's init, then call the export with event id 0; raises CallFailed.

        Calls may run `ticks` epoch ticks; `event` is the call's HttpEvent (the raw path gives it the
        store context); with a `control` the store checks its deadline and cancel flag (`interrupt`)."""
        store = wasmtime.Store(linked.engine)
        store.set_limits(memory_size=memory_limit)
        store.set_epoch_deadline(ticks)
        if wasi is not None:
            store.set_wasi(wasi)
        instance: wasmtime.Instance | None = None
        armed = interrupt.arm(address(store.ptr()), control) if control is not None else 0
        try:
            instance = linked.pre.instantiate(store)
            init, init_sig = linked.init, linked.init_sig
            if init is not None and init_sig is not None:  # both or neither
                try:
                    self._call(store, instance, init, init_sig, ())
                except wasmtime.ExitTrap as exc:
                    # Go-style commands leave _start through proc_exit(0): that is a normal start-up.
                    if exc.code != 0:
                        raise
            # The result (0 = ok by convention) is ignored, as tau does.
            self._call(store, instance, sig.name.decode(), sig, (0,))
            if event.measure:
                event.used_memory = _memory_size(store, instance)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise CallFailed(
                exc, instantiated=instance is not None, used=_memory_size(store, instance)
            ) from None
        finally:
            if armed:
                interrupt.disarm(armed)

    def _call(
        self,
        store: wasmtime.Store,
        instance: wasmtime.Instance,
        export: str,
        sig: fastcall.Signature,
        args: tuple[int, ...],
    ) -> None:
        self._invoke(store, self._export(store, instance, export), sig, args)

    @staticmethod
    def _export(store: wasmtime.Store, instance: wasmtime.Instance, name: str) -> wasmtime.Func:
        func = instance.exports(store)[name]
        if not isinstance(func, wasmtime.Func):
            raise wasmtime.WasmtimeError(f"export `{name}` is not a function")
        return func

    @staticmethod
    def _invoke(
        store: wasmtime.Store, func: wasmtime.Func, sig: fastcall.Signature, args: Sequence[fastcall.Number]
    ) -> object:
        return func(store, *args)


class PlainPath(CallPath):
    """wasmtime-py's public API: `Store`, `InstancePre.instantiate`, `Instance.exports`, `Func.__call__`,
    `Linker.define_func` (the host functions get a `wasmtime.Caller`)."""

    name = "plain"
    title = "plain wasmtime-py"


class ObjectPath(CallPath):
    """wasmtime-py's objects, calls through its typed ffi bindings without per-call reflection."""

    name = "object"
    title = "object API fast path"

    def problem(self) -> str | None:
        if not fastcall.FAST:
            return "wasmtime._ffi lacks the typed call bindings (wasmtime_val_t, wasmtime_func_call)"
        if not callable(getattr(wasmtime.Func, "_from_raw", None)):
            return "wasmtime.Func._from_raw is missing"
        return None

    def signature(self, ty: wasmtime.FuncType, name: bytes = b"") -> fastcall.Signature:
        return fastcall.Signature(ty, name)

    # Calls through wasmtime-py's typed ffi bindings, looked up by name alone.
    _export = staticmethod(fastcall.export_func)
    _invoke = staticmethod(fastcall.call)


class RawPath(ObjectPath):
    """Raw C calls per request and unchecked host callbacks; exports whose signatures are not plain
    numbers (or a `_start` taking arguments) are called through the object path."""

    name = "raw"
    title = "raw C calls"
    raw_callbacks = True

    def __init__(self) -> None:
        from dream.wasm import rawcall  # imported here: rawcall imports this module

        self._run = rawcall.run

    def problem(self) -> str | None:
        from dream.wasm import guest_memory, rawcall

        missing = super().problem()
        if missing:
            return missing
        if not (rawcall.AVAILABLE and hostcall.RAW and guest_memory.RAW):
            return "wasmtime._ffi lacks the C functions or structs the raw calls use"
        if not callable(getattr(wasmtime.WasiConfig, "_consume", None)):
            return "wasmtime.WasiConfig._consume is missing"
        for cls in (wasmtime.Trap, wasmtime.WasmtimeError):
            if not callable(getattr(cls, "_from_ptr", None)):
                return f"wasmtime.{cls.__name__}._from_ptr is missing"
        size = rawcall.val_raw_size()
        if size != hostcall.VAL_RAW_SIZE:
            return f"wasmtime_val_raw_t is {size} bytes, not the {hostcall.VAL_RAW_SIZE} the raw calls expect"
        return None

    def link(
        self, engine: wasmtime.Engine, pre: wasmtime.InstancePre, init: str | None, init_ty: Any
    ) -> Linked:
        linked = super().link(engine, pre, init, init_ty)
        linked.engine_address = address(engine.ptr())
        linked.pre_address = address(pre.ptr())
        return linked

    def plan(self, linked: Linked, sig: fastcall.Signature) -> Run:
        init = linked.init_sig
        if sig.fast and (init is None or (init.fast and init.nparams == 0)):
            # Everything known ahead is bound now: a request passes only what is its own.
            return functools.partial(
                self._run, linked.engine_address, linked.pre_address, linked.init_name, sig.name, sig.nresults
            )
        return super().plan(linked, sig)


class NativePath(RawPath):
    """The raw path with each fast call made in C (`native`) and the HTTP event's hot host calls as C
    callbacks. Calls the raw path would hand to the object path go there too, with the C host calls
    told which event they answer for."""

    name = "native"
    title = "native C calls"

    def __init__(self) -> None:
        from dream.wasm import native, rawcall

        super().__init__()
        self._native, self._why = native.load()
        self._error_at, self._trap_at = rawcall.error_at, rawcall.trap_at
        self._names = frozenset(self._native.names()) if self._native is not None else frozenset()
        self.native_host_calls = self._names

    def problem(self) -> str | None:
        if self._native is None:
            return self._why
        return super().problem()

    def define(self, linker: wasmtime.Linker, *spec: Any, takes_caller: bool = True) -> None:
        module, name, params, has_result, _fn = spec
        if module != hostcall.SDK or name not in self._names:
            super().define(linker, *spec, takes_caller=takes_caller)
            return
        assert self._native is not None
        ty = hostcall.functype(params, has_result)
        hostcall.raise_error(self._native.define(address(linker.ptr()), name.encode(), address(ty.ptr())))

    def plan(self, linked: Linked, sig: fastcall.Signature) -> Run:
        init = linked.init_sig
        if sig.fast and sig.nresults <= _MAX_RESULTS and (init is None or (init.fast and init.nparams == 0)):
            return functools.partial(
                self._call_native,
                linked.engine_address,
                linked.pre_address,
                linked.init_name,
                sig.name,
                sig.nresults,
            )
        return functools.partial(self._bound, CallPath.plan(self, linked, sig))

    def plan_serve(self, linked: Linked, sig: fastcall.Signature, odd: OddHeader) -> Serve | None:
        """How to answer an HTTP request with the export of `linked` in one C call and no HttpEvent
        (`nativecall.c` `serve`), or None when its signature needs the other ways. Only for a module
        whose every import is one of the C host calls (the caller checks). A `Serve` is called as
        `serve(memory_limit, ticks, method, host, path, counts)`; `odd` checks a header C does not."""
        init = linked.init_sig
        if self._native is None or not (
            sig.fast and sig.nresults <= _MAX_RESULTS and (init is None or (init.fast and init.nparams == 0))
        ):
            return None
        # The C function itself: a request adds (memory_limit, ticks, method, host, path, counts).
        return functools.partial(
            self._native.serve,
            linked.engine_address,
            linked.pre_address,
            linked.init_name,
            sig.name,
            sig.nresults,
            odd,
        )

    def raise_failed(self, failed: tuple[int, int, bool, int], init: bytes | None, export: bytes) -> None:
        """Raise what a failed native call (`run`'s or `serve`'s failure tuple) stands for."""
        what, at, instantiated, used = failed
        if what == _MISSING_EXPORT:
            raise KeyError((init if instantiated and init else export).decode())
        error = self._error_at(at) if what == _ERROR else self._trap_at(at)
        raise CallFailed(error, instantiated=instantiated, used=used if used >= 0 else None)

    def _bound(self, run: Run, *call: Any) -> None:
        """`run(*call)` (a `Run`'s arguments: memory limit, ticks, WASI, event, control) with the C host
        calls answering for its event."""
        assert self._native is not None
        self._native.bound(call[3], lambda: run(*call))

    def _call_native(
        self, engine: int, pre: int, init: bytes | None, export: bytes, nresults: int, *call: Any
    ) -> None:
        """One call in C: the planned part (addresses, export names), then a `Run`'s arguments."""
        memory_limit, ticks, wasi, event, control = call
        failed = self._native.run(  # type: ignore[union-attr]
            engine,
            pre,
            init,
            export,
            nresults,
            memory_limit,
            ticks,
            address(wasi._consume()) if wasi is not None else None,
            event,
            control,
            interrupt.arm,
            interrupt.disarm,
        )
        if failed is not None:
            self.raise_failed(failed, init, export)


# What a failed native call hands back (nativecall.c `run`), and the most results it takes.
_ERROR, _TRAP, _MISSING_EXPORT = 1, 2, 3
_MAX_RESULTS = 4

PATHS: dict[str, type[CallPath]] = {
    "native": NativePath,
    "raw": RawPath,
    "object": ObjectPath,
    "plain": PlainPath,
}
BEST_FIRST = ("native", "raw", "object", "plain")


def _memory_size(store: wasmtime.Store, instance: wasmtime.Instance | None) -> int | None:
    if instance is None:
        return None
    try:
        mem = instance.exports(store).get("memory")
        return mem.data_len(store) if isinstance(mem, wasmtime.Memory) else None
    except (wasmtime.WasmtimeError, ValueError):
        return None
