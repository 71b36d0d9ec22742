"""WASI `poll_oneoff`, the way a guest sleeps (TinyGo's and Go's `time.Sleep`), bounded by its call.

wasmtime's own `poll_oneoff` blocks the thread for as long as the guest asks: a guest sleeping an hour
held its worker thread (and its slot under the substrate's limits) for an hour, long after its timeout,
and nothing could stop it. This one waits through `interrupt.wait`: never past the call's deadline,
and cut short when the call is cancelled; the guest's next epoch check then stops it.

Clock subscriptions are honoured (relative, or absolute on the realtime or monotonic clock); fd
subscriptions (a guest's stdio) are reported ready at once, as they are for wasmtime's stdio.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import guest_memory, hostcall, interrupt

MODULE = "wasi_snapshot_preview1"
NAME = "poll_oneoff"

_SUBSCRIPTION = struct.Struct("<QB7xIxxxxQQH6x")  # userdata, tag, clock id, timeout, precision, flags
_EVENT = struct.Struct("<QHB5xQH6x")  # userdata, error, type, nbytes, flags
_CLOCK = 0  # eventtype clock
_REALTIME = 0  # clockid realtime (others: monotonic and the process/thread cputime clocks)
_ABSTIME = 1  # subclockflags: the timeout is a point in time, not a duration
_ESUCCESS = 0
_EFAULT = 21
_EINVAL = 28


def poll_oneoff(caller: Any, subs: int, events: int, count: int, out: int) -> int:
    count &= 0xFFFFFFFF
    if count == 0:
        return _EINVAL
    view = guest_memory.view_of(caller)
    subs &= 0xFFFFFFFF
    events &= 0xFFFFFFFF
    out &= 0xFFFFFFFF
    if (
        view is None
        or subs + count * _SUBSCRIPTION.size > len(view)
        or events + count * _EVENT.size > len(view)
        or out + 4 > len(view)
    ):
        return _EFAULT
    entries = [_SUBSCRIPTION.unpack_from(view, subs + i * _SUBSCRIPTION.size) for i in range(count)]
    ready = [(data, tag) for data, tag, *_ in entries if tag != _CLOCK]
    if not ready:
        # Only clocks: wait for the first one, then report every clock whose time has come.
        now = time.monotonic()
        due = [(_due(clock, timeout, flags, now), data) for data, _, clock, timeout, _, flags in entries]
        first = min(when for when, _ in due)
        if first > now:
            interrupt.wait(first - now)
        now = time.monotonic()
        ready = [(data, _CLOCK) for when, data in due if when <= now] or [(min(due)[1], _CLOCK)]
    for index, (data, tag) in enumerate(ready):
        _EVENT.pack_into(view, events + index * _EVENT.size, data, _ESUCCESS, tag, 0, 0)
    struct.pack_into("<I", view, out, len(ready))
    return _ESUCCESS


def _due(clock: int, timeout: int, flags: int, now: float) -> float:
    """When (time.monotonic()) a clock subscription fires."""
    if not flags & _ABSTIME:
        return now + timeout / 1e9
    if clock == _REALTIME:
        return now + (timeout / 1e9 - time.time())
    # WASI's monotonic clock counts from the start of the call (wasmtime starts it with the call's
    # WASI context); the cputime clocks are taken as the same.
    return interrupt.started() + timeout / 1e9


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    """Define `poll_oneoff` in `linker` over WASI's (`define_wasi` first), with `define` (the host's
    call path's `CallPath.define`)."""
    linker.allow_shadowing = True
    try:
        define(linker, MODULE, NAME, ("i32",) * 4, True, poll_oneoff, takes_caller=True)
    finally:
        linker.allow_shadowing = False
