"""Where a served request's time goes, stage by stage: off unless `DREAM_STAGES` is set (`1`, or `N`).

When on, `install()` wraps the functions of the serving path (the HTTP server's parser callback and
writes, the front's route and event steps, the wasm call's set-up, wasmtime's store and instance calls,
the guest call, each host function) with a timer; nothing in those modules checks a flag, so with it off
the path runs exactly the code it runs without this module. Times are exclusive: a stage nested in
another (a host call inside the guest call) is taken out of its parent's time, so the stages add up to
the time spent inside the outermost one. The substrate's health probe reports the totals (`stages`), and
`bench/serving_stages.py` turns them into a per-request table beside the process's measured CPU time.

`DREAM_STAGES=1` times every entry; each timed entry costs the process ~1-3 us, so a table of ~10
stages overstates the request it measures. `DREAM_STAGES=N` (N > 1) times one entry in N of each
outermost stage (its nested stages with it) and reports the totals multiplied by N: the others pay only
the wrapper's call (~0.2 us), and the table adds up to the untimed CPU.

Timed with `thread_time_ns`, the calling thread's CPU time: a stage's figure is the CPU it used, however
busy the machine (a wall clock would count the time the thread was preempted, which on a shared machine
is often more than the stage). A call on a worker thread is timed on that thread's clock.
"""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

ENV = "DREAM_STAGES"

_clock = time.thread_time_ns  # CPU time of this thread: preemption is not a stage's cost
_totals: dict[str, int] = {}  # stage → exclusive ns
_counts: dict[str, int] = {}  # stage → times entered
_installed = False


def every() -> int:
    """Time one entry in this many (0: stages are off): DREAM_STAGES as a positive whole number."""
    text = os.environ.get(ENV, "").strip()
    return int(text) if text.isdigit() else 0


def enabled() -> bool:
    return every() > 0


_every = max(1, every())


class _Thread(threading.local):
    """Per thread: the stack of open stages, the clock when it last changed, and whether the thread is
    inside an outermost entry that is not timed."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.mark = 0
        self.skipping = False


_local = _Thread()
_outer: dict[str, int] = {}  # stage → timed entries in which it was the outermost stage
# What one timed entry adds to the totals by itself (its clock reads and bookkeeping, in ns): as the
# outermost stage, and nested in another (then its set-up and tear-down land in its parent's time).
# Measured in the process by `calibrate`, taken off by `snapshot`.
_bias = [0.0, 0.0]


def timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, with its time (less its nested stages') added to `stage`."""
    _totals.setdefault(stage, 0)
    _counts.setdefault(stage, 0)
    _outer.setdefault(stage, 0)
    entered = [0]  # entries of this stage as the outermost one: every `_every`th is timed

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        local = _local
        stack = local.stack
        if not stack:
            if local.skipping:  # inside an outer stage's entry that is not timed
                return fn(*args, **kwargs)
            entered[0] += 1
            if entered[0] % _every:
                local.skipping = True
                try:
                    return fn(*args, **kwargs)
                finally:
                    local.skipping = False
            _outer[stage] += 1
        now = _clock()
        if stack:
            _totals[stack[-1]] += now - local.mark
        stack.append(stage)
        _counts[stage] += 1
        local.mark = now
        try:
            return fn(*args, **kwargs)
        finally:
            now = _clock()
            _totals[stack.pop()] += now - local.mark
            local.mark = now

    return wrapper


def calibrate(entries: int = 400, batches: int = 7) -> tuple[float, float]:
    """Measure what a timed entry adds to the totals by itself, outermost and nested (median of
    `batches`), for `snapshot` to take off; returns (outermost, nested) ns."""
    global _every
    every, _every = _every, 1
    names = ("(calibration)", "(calibration, inner)", "(calibration, outer)")

    def noop() -> None:
        return None

    alone = timed(names[0], noop)
    inner = timed(names[1], noop)
    outer = timed(names[2], lambda: inner())
    outermost: list[float] = []
    nested: list[float] = []
    try:
        for _ in range(batches):
            for name in names:
                _totals[name] = 0
            for _ in range(entries):
                alone()
            for _ in range(entries):
                outer()
            first = _totals[names[0]] / entries
            outermost.append(first)
            nested.append((_totals[names[1]] + _totals[names[2]]) / entries - first)
    finally:
        _every = every
        for name in names:
            for table in (_totals, _counts, _outer):
                table.pop(name, None)
    _bias[:] = [statistics.median(outermost), max(0.0, statistics.median(nested))]
    return _bias[0], _bias[1]


def snapshot() -> dict[str, dict[str, int]]:
    """{stage: {"ns": exclusive nanoseconds, "count": times entered, "timers_ns": the timers' own cost
    taken off `ns`}} since the process started (with DREAM_STAGES=N, the timed entries' figures times N)."""
    out = {}
    for stage, total in _totals.items():
        outer = _outer.get(stage, 0)
        bias = outer * _bias[0] + (_counts[stage] - outer) * _bias[1]
        out[stage] = {
            "ns": int(max(0.0, total - bias) * _every),
            "count": _counts[stage] * _every,
            "timers_ns": int(min(bias, total) * _every),
        }
    return out


def _wrap(owner: Any, name: str, stage: str) -> None:
    setattr(owner, name, timed(stage, getattr(owner, name)))


def install() -> None:
    """Wrap the serving path's functions (once per process). Call it before the first `WasmHost` (its
    call path takes `rawcall.run` when made; host functions are wrapped as they are defined) and before
    the HTTP server accepts a connection."""
    global _installed
    if _installed:
        return
    _installed = True
    calibrate()
    from dream.http import server
    from dream.substrate import front, runner
    from dream.wasm import callpath, host, hostcall, rawcall

    _wrap(server.Connection, "data_received", "parse")  # llhttp and our callbacks, less the nested stages
    _wrap(front.Front, "_ready_for", "route")
    _wrap(front, "event_of", "event")
    _wrap(runner.Runner, "run_inline", "call set-up")  # admission check, streak bookkeeping
    _wrap(host.FunctionModule, "call", "call set-up")  # WASI config, the event, binding, the ticker
    # A new store with its limits, the instance, export look-ups, the store's deletion: one Python
    # function of plain C calls (the raw call path's; the others are not broken down).
    _wrap(rawcall, "run", "store and instance")
    _wrap(rawcall, "_call", "guest")  # its own code, wasmtime's trampolines, ctypes into host calls
    # The native path does all of it in one C call (store, instance, guest, its C host calls); host
    # calls it leaves to Python are timed as `host calls` inside it.
    _wrap(callpath.NativePath, "_call_native", "wasm call (C)")
    _wrap(front.Front, "_answer", "answer")
    _wrap(server.Connection, "respond", "answer")
    _wrap(server.Connection, "flush", "write")

    define = hostcall.define

    @functools.wraps(define)
    def timed_define(
        linker: Any, module: str, name: str, params: Any, has_result: bool, fn: Any, **kw: Any
    ) -> Any:
        return define(linker, module, name, params, has_result, _timed_host(fn), **kw)

    hostcall.define = timed_define  # same signature, timed


@functools.cache
def _timed_host(fn: Callable[..., Any]) -> Callable[..., Any]:
    # One wrapper per host function: hostcall keeps one C callback per (module, name, function).
    return timed("host calls", fn)
