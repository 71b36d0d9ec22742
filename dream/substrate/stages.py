"""Where a served request's time goes, stage by stage: off unless `DREAM_STAGES` is set (`1`, or `N`).

When on, `install()` wraps the functions of the serving path (the HTTP server's parser callback and
writes, the front's route and event steps, the wasm call's set-up, wasmtime's store and instance calls,
the guest call, each host function) with a timer; nothing in those modules checks a flag, so with it off
the path runs exactly the code it runs without this module. Times are exclusive: a stage nested in
another (a host call inside the guest call) is taken out of its parent's time, so the stages add up to
the time spent inside the outermost one. The substrate's health probe reports the totals (`stages`), and
`bench/serving_stages.py` turns them into a per-request table beside the process's measured CPU time.

`DREAM_STAGES=1` times every entry. `DREAM_STAGES=N` (N > 1) times one entry in N of each outermost
stage (with its nested stages): the others pay only the wrappers' calls, so the timed process runs
close to the untimed one.

The clock is `perf_counter_ns` (cheap, no system call), but a wall clock also counts the time the
thread was preempted, which on a shared machine is often more than the stage. So each timed outermost
entry also reads the thread's CPU clock at both ends: an entry whose wall time exceeds its CPU time by
more than `PREEMPTED_NS` was preempted (or waited for the GIL) and is dropped whole; the kept ones are
scaled up to every entry of their outermost stage. What the timers add by themselves (their clock
reads and bookkeeping) is measured in the process (`calibrate`) and taken off. So the stages are the
CPU a request spends in them, and add up (with the event loop around them) to the untimed CPU.
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
# A timed entry whose wall time exceeds its thread's CPU time by more than this was preempted: dropped.
PREEMPTED_NS = 2_000

_clock = time.perf_counter_ns
_cpu = time.thread_time_ns
_entered: dict[str, int] = {}  # outermost stage → its entries as the outermost one, timed or not
_kept: dict[str, int] = {}  # outermost stage → its timed entries kept (not preempted)
_sums: dict[str, dict[str, list[int]]] = {}  # outermost stage → stage → [exclusive ns, entries] kept
_names: list[str] = []  # every stage, in the order they were made
_installed = False


def every() -> int:
    """Time one entry in this many (0: stages are off): DREAM_STAGES as a positive whole number."""
    text = os.environ.get(ENV, "").strip()
    return int(text) if text.isdigit() else 0


def enabled() -> bool:
    return every() > 0


_every = max(1, every())


class _Thread(threading.local):
    """Per thread: the open stages of the timed entry running (empty: none), the clock when they last
    changed, its figures so far, and whether the thread is inside an outermost entry that is not timed."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.mark = 0
        self.pending: dict[str, list[int]] = {}
        self.skipping = False


_local = _Thread()
# What one timed entry adds to the figures by itself (its clock reads and bookkeeping, in ns): as the
# outermost stage, and nested in another (its set-up and tear-down then land in its parent's time).
# Measured in the process by `calibrate`, taken off by `snapshot`.
_bias = [0.0, 0.0]


def timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, with its time (less its nested stages') added to `stage`."""
    if stage not in _entered:
        _entered[stage] = _kept[stage] = 0
        _names.append(stage)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        local = _local
        stack = local.stack
        if stack:  # nested in a timed entry: timed
            now = _clock()
            pending = local.pending
            pending[stack[-1]][0] += now - local.mark
            figures = pending.get(stage)
            if figures is None:
                figures = pending[stage] = [0, 0]
            figures[1] += 1
            stack.append(stage)
            local.mark = now
            try:
                return fn(*args, **kwargs)
            finally:
                now = _clock()
                pending[stack.pop()][0] += now - local.mark
                local.mark = now
        if local.skipping:  # inside an outermost entry that is not timed
            return fn(*args, **kwargs)
        entered = _entered[stage] = _entered[stage] + 1
        if entered % _every:
            local.skipping = True
            try:
                return fn(*args, **kwargs)
            finally:
                local.skipping = False
        return _outermost(stage, fn, args, kwargs)

    return wrapper


def _outermost(stage: str, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    local = _local
    local.pending = pending = {stage: [0, 1]}
    local.stack.append(stage)
    cpu = _cpu()
    began = local.mark = _clock()
    try:
        return fn(*args, **kwargs)
    finally:
        now = _clock()
        cpu = _cpu() - cpu
        local.stack.pop()
        pending[stage][0] += now - local.mark
        if now - began <= cpu + PREEMPTED_NS:  # it ran all along: keep it
            _kept[stage] += 1
            sums = _sums.setdefault(stage, {})
            for name, (ns, count) in pending.items():
                kept = sums.get(name)
                if kept is None:
                    sums[name] = [ns, count]
                else:
                    kept[0] += ns
                    kept[1] += count


def calibrate(entries: int = 400, batches: int = 7) -> tuple[float, float]:
    """Measure what a timed entry adds to the figures by itself, outermost and nested (median of
    `batches`), for `snapshot` to take off; returns (outermost, nested) ns."""
    global _every
    every, _every = _every, 1
    names = ("(calibration)", "(calibration, outer)", "(calibration, inner)")

    def noop() -> None:
        return None

    alone = timed(names[0], noop)
    inner = timed(names[2], noop)
    outer = timed(names[1], lambda: inner())
    outermost: list[float] = []
    nested: list[float] = []
    try:
        for _ in range(batches):
            for name in names:
                _sums.pop(name, None)
                _kept[name] = 0
            for _ in range(entries):
                alone()
            for _ in range(entries):
                outer()
            first = _sums[names[0]][names[0]][0] / max(1, _kept[names[0]])
            pair = sum(ns for ns, _ in _sums[names[1]].values()) / max(1, _kept[names[1]])
            outermost.append(first)
            nested.append(pair - first)
    finally:
        _every = every
        for name in names:
            for table in (_entered, _kept, _sums):
                table.pop(name, None)
            if name in _names:
                _names.remove(name)
    _bias[:] = [statistics.median(outermost), max(0.0, statistics.median(nested))]
    return _bias[0], _bias[1]


def snapshot() -> dict[str, dict[str, int]]:
    """{stage: {"ns": exclusive nanoseconds, "count": times entered, "timers_ns": the timers' own cost
    taken off `ns`}} since the process started: the kept timed entries' figures, scaled up to every
    entry of their outermost stage."""
    out = {name: {"ns": 0, "count": 0, "timers_ns": 0} for name in _names}
    for outer, sums in _sums.items():
        scale = _entered[outer] / _kept[outer]
        for name, (ns, count) in sums.items():
            nested = count - (_kept[outer] if name == outer else 0)
            bias = min(ns, (count - nested) * _bias[0] + nested * _bias[1])
            figures = out[name]
            figures["ns"] += int((ns - bias) * scale)
            figures["count"] += round(count * scale)
            figures["timers_ns"] += int(bias * scale)
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

    _wrap(server.Connection, "receive", "parse")  # llhttp and our callbacks, less the nested stages
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
    # A request answered in one C call (`FunctionModule.serve`): the Python around it, and the C call
    # itself (its plan is made per function, so the plan is what gets wrapped).
    _wrap(runner.Runner, "serve_inline", "call set-up")
    _wrap(host.FunctionModule, "serve", "call set-up")
    plan_serve = callpath.NativePath.plan_serve

    @functools.wraps(plan_serve)
    def timed_plan(self: Any, *args: Any) -> Any:
        serve = plan_serve(self, *args)
        return None if serve is None else timed("wasm call (C)", serve)

    callpath.NativePath.plan_serve = timed_plan  # type: ignore[method-assign,assignment]
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
