"""Bounds-checked reads and writes of the calling instance's exported `memory` from a host function.

On the fast path (`hostcall` raw callbacks) the caller arrives as a `wasmtime_caller_t` address and
memory is reached through private ctypes handles taking plain addresses. With wasmtime-py's own
trampoline (the object and plain call paths) the caller is a `wasmtime.Caller` and the public `Memory`
API is used; this module imports, and serves those, even when the private handles are missing.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

import wasmtime

from dream.wasm.event import HttpEvent

_U32 = struct.Struct("<I")
_MASK = 0xFFFFFFFF  # guest pointers/lengths arrive as signed i32; they are u32 offsets
_MEMORY = b"memory"
_VP = ctypes.c_void_p


try:
    from wasmtime import _ffi as _ffi

    from dream.wasm.rawcall import handle

    _caller_context = handle("wasmtime_caller_context", _VP, [_VP])
    _caller_export = handle(
        "wasmtime_caller_export_get",
        ctypes.c_bool,
        [_VP, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_ffi.wasmtime_extern_t)],
    )
    _data = handle("wasmtime_memory_data", _VP, [_VP, _VP])
    _size = handle("wasmtime_memory_data_size", ctypes.c_size_t, [_VP, _VP])
    _FOUND_MEMORY = _ffi.WASMTIME_EXTERN_MEMORY.value
    RAW = True  # callers that arrive as addresses (raw host callbacks) can be served
except (ImportError, AttributeError):  # pragma: no cover - depends on the installed wasmtime-py
    RAW = False


_as_view = ctypes.pythonapi.PyMemoryView_FromMemory
_as_view.restype = ctypes.py_object
_as_view.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int]
_PYBUF_WRITE = 0x200


class MemoryHandle:
    """The instance's exported memory for one call, with a writable memoryview over its bytes.

    Linear memory only grows, and a 32-bit memory never moves (wasmtime reserves its whole address
    range up front, with or without the pooling allocator), so a view stays valid for the rest of the
    call: it is rebuilt only when an access falls past its end (`refresh`), i.e. after the guest grew
    its memory. Slicing a memoryview is ~5x cheaper than ctypes.string_at/memmove.
    """

    __slots__ = ("addr", "extern", "py", "size", "view")

    def __init__(self, extern: Any = None, py: wasmtime.Memory | None = None) -> None:
        self.extern = extern  # keeps the wasmtime_extern_t holding the memory handle alive
        self.addr = ctypes.addressof(extern.of.memory) if extern is not None else 0
        self.py = py
        self.size = -1
        self.view = memoryview(b"")

    def refresh(self, ctx: Any, caller: Any) -> memoryview:
        if self.py is not None:  # fallback path: public API with a wasmtime.Caller
            size, base = self.py.data_len(caller), None
            if size != self.size:
                base = ctypes.addressof(self.py.data_ptr(caller).contents)
        else:
            if ctx is None:
                ctx = _caller_context(caller)
            size, base = _size(ctx, self.addr), None
            if size != self.size:
                base = _data(ctx, self.addr)
        if size != self.size:
            self.size = size
            self.view = _as_view(base, size, _PYBUF_WRITE) if size and base else memoryview(b"")
        return self.view


def _resolve(caller: Any) -> MemoryHandle | None:
    if isinstance(caller, wasmtime.Caller):
        found = caller.get("memory")
        return MemoryHandle(py=found) if isinstance(found, wasmtime.Memory) else None
    item = _ffi.wasmtime_extern_t()
    if _caller_export(caller, _MEMORY, len(_MEMORY), ctypes.byref(item)) and item.kind == _FOUND_MEMORY:
        return MemoryHandle(extern=item)
    return None


_EMPTY = memoryview(b"")


def view_of(caller: Any) -> memoryview | None:
    """The calling instance's exported memory as it is now (None if it exports none), for a host
    function that does not belong to an HTTP event (WASI)."""
    mem = _resolve(caller)
    return mem.refresh(None, caller) if mem is not None else None


class Guest:
    """The guest memory as seen from one host call."""

    __slots__ = ("_caller", "_ctx", "_mem", "_view")

    def __init__(self, caller: Any, event: HttpEvent) -> None:
        mem = event.memory
        if mem is None:
            mem = event.memory = _resolve(caller)
        self._mem = mem
        self._caller = caller
        # The store context of the running call, when the host knows it (saves asking the caller).
        self._ctx = event.ctx if isinstance(caller, int) else None
        if mem is None:
            self._view = _EMPTY
        elif mem.size < 0:
            self._view = mem.refresh(self._ctx, caller)
        else:
            self._view = mem.view

    # Each access checks its bounds against the view inline and calls `_grown` only past its end:
    # host calls are on every request's path.

    def _grown(self, end: int) -> bool:
        """Whether `end` fits once the view is re-read (the guest may have grown its memory)."""
        if self._mem is None:
            return False
        self._view = self._mem.refresh(self._ctx, self._caller)
        return end <= len(self._view)

    def fits(self, ptr: int, n: int) -> bool:
        end = (ptr & _MASK) + (n & _MASK)
        return end <= len(self._view) or self._grown(end)

    def read(self, ptr: int, n: int) -> bytes | None:
        ptr &= _MASK
        end = ptr + (n & _MASK)
        if end > len(self._view) and not self._grown(end):
            return None
        return self._view[ptr:end].tobytes()

    def view(self, ptr: int, n: int) -> memoryview | None:
        """The guest's bytes in place (no copy), valid while the host call runs; None when out of bounds."""
        ptr &= _MASK
        end = ptr + (n & _MASK)
        if end > len(self._view) and not self._grown(end):
            return None
        return self._view[ptr:end]

    def write(self, ptr: int, data: bytes) -> bool:
        ptr &= _MASK
        end = ptr + len(data)
        if end > len(self._view) and not self._grown(end):
            return False
        self._view[ptr:end] = data
        return True

    def put_u32(self, ptr: int, value: int) -> bool:
        ptr &= _MASK
        if ptr + 4 > len(self._view) and not self._grown(ptr + 4):
            return False
        _U32.pack_into(self._view, ptr, value & _MASK)
        return True


def guest(caller: Any, event: HttpEvent) -> Guest:
    """The guest memory for a host call: one `Guest` per call of the export when the store context is
    known (its view stays valid: memory never moves and is re-read when it grows)."""
    found = event.guest
    if found is not None:
        return found
    made = Guest(caller, event)
    if made._ctx is not None:
        event.guest = made
    return made
