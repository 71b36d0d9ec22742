"""Stopping a call that runs on a worker thread: at its deadline, or when its client has gone away.

A store's epoch deadline counts ticks of the engine's epoch, and ticks come late on a loaded machine
(the ticker thread waits for a core and for the GIL): a 30 s timeout counted as 3000 ticks of 10 ms
ended up to 4 s late. So a worker call's store gets an epoch deadline callback
(`wasmtime_store_epoch_deadline_callback`): every `CHECK_TICKS` ticks wasmtime asks it whether to go
on, and it looks at the clock and at the call's cancel flag. It stops the guest by returning an error
(the call then fails with that error, and `CallControl.stopped` says why), else it sets the next
check, never past the deadline. Calls inline on the event loop get none of this: they run for one
short slice, counted in ticks.

A guest waiting in a host function (`env._sleep`, WASI `poll_oneoff`) runs no wasm, so no epoch check
comes: those waits go through `wait`, which a cancel cuts short.
"""

from __future__ import annotations

import ctypes
import logging
import math
import threading
import time
from typing import Any

from dream.wasm.engine import TICK_SECONDS

log = logging.getLogger("dream.wasm")

CHECK_TICKS = 20  # a running call looks at its deadline and cancel flag this often (200 ms)
TIMEOUT = "timeout"
CANCELLED = "cancelled"
_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE: go on with the new deadline

_VP = ctypes.c_void_p
_Callback = ctypes.CFUNCTYPE(
    ctypes.c_size_t, _VP, _VP, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint8)
)

try:
    from wasmtime import _ffi as _ffi

    # A PyDLL keeps the GIL for these short calls (releasing and taking it back costs more).
    _lib = ctypes.PyDLL(_ffi.dll._name)
    _set_callback = _lib["wasmtime_store_epoch_deadline_callback"]
    _set_callback.restype = None
    _set_callback.argtypes = [_VP, _Callback, _VP, _VP]
    _error_new = _lib["wasmtime_error_new"]
    _error_new.restype = _VP
    _error_new.argtypes = [ctypes.c_char_p]
    AVAILABLE = True
except (ImportError, AttributeError):  # pragma: no cover - depends on the installed wasmtime-py
    AVAILABLE = False


class CallControl:
    """The deadline and cancel flag of one call, shared by the event loop and the worker thread."""

    __slots__ = ("cancelled", "deadline", "on_cancel", "stopped", "wake")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # time.monotonic() value
        self.cancelled = False
        self.stopped: str | None = None  # TIMEOUT or CANCELLED once the callback stopped the guest
        self.wake = threading.Event()  # set on cancel: ends a wait in a host function
        self.on_cancel: Any = None  # called (on the canceller's thread) when the call is cancelled

    def cancel(self) -> None:
        """Stop the call: at its next epoch check if it runs wasm, at once if it waits."""
        if self.cancelled:
            return
        self.cancelled = True
        self.wake.set()
        if self.on_cancel is not None:
            self.on_cancel()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def first_ticks(self) -> int:
        """The epoch deadline (in ticks from now) a store starts with."""
        if not AVAILABLE:  # no callback to ask: the whole remaining time, counted in ticks
            return math.ceil(max(0.0, self.remaining()) / TICK_SECONDS) + 1
        return _next_ticks(self.remaining())


def _next_ticks(left: float) -> int:
    # Never past the deadline; near it, every tick, so a late ticker costs at most a tick or two.
    return max(1, min(CHECK_TICKS, int(left / TICK_SECONDS)))


_running: dict[int, CallControl] = {}  # id(control) → control, for calls armed and not finished
_keys = iter(range(1, 1 << 62))
_local = threading.local()


def _on_deadline(ctx: Any, data: Any, delta: Any, kind: Any) -> int:
    """wasmtime asks whether the guest may go on: 0 and a new deadline, or an error that stops it."""
    try:
        control = _running.get(data or 0)
        if control is None:  # pragma: no cover - a store outlived its call
            return int(_error_new(b"call is over"))
        if control.cancelled:
            control.stopped = CANCELLED
            return int(_error_new(b"call cancelled: its client went away"))
        left = control.deadline - time.monotonic()
        if left <= 0:
            control.stopped = TIMEOUT
            return int(_error_new(b"call timed out"))
        delta[0] = _next_ticks(left)
        kind[0] = _CONTINUE
        return 0
    except BaseException:  # pragma: no cover - an exception cannot cross into wasmtime
        log.exception("epoch deadline check failed; stopping the call")
        return int(_error_new(b"deadline check failed"))


_CALLBACK = _Callback(_on_deadline) if AVAILABLE else None  # kept alive for the life of the process


def arm(store: int, control: CallControl) -> int:
    """Give the store at address `store` the deadline checks of `control`; returns the key to `disarm`."""
    if not AVAILABLE:
        return 0
    key = next(_keys)
    _running[key] = control
    _set_callback(store, _CALLBACK, key, None)
    return key


def disarm(key: int) -> None:
    _running.pop(key, None)


# -- waits in host functions ------------------------------------------------------------------------


def begin(deadline: float, control: CallControl | None) -> None:
    """A call of a module that can wait starts on this thread (its WASI clocks start about now)."""
    _local.deadline = deadline
    _local.control = control
    _local.started = time.monotonic()


def end() -> None:
    _local.control = None


def started() -> float:
    """When the call on this thread started (the zero of its WASI monotonic clock)."""
    return float(getattr(_local, "started", 0.0))


def wait(seconds: float) -> None:
    """Wait for a guest (it asked to sleep), never past its call's deadline, cut short by a cancel."""
    seconds = min(seconds, getattr(_local, "deadline", 0.0) - time.monotonic())
    if seconds <= 0:
        return
    control: CallControl | None = getattr(_local, "control", None)
    if control is None:
        time.sleep(seconds)
    else:
        control.wake.wait(seconds)
