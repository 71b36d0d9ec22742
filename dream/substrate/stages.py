"""Where a served request's time goes, stage by stage: off unless `DREAM_STAGES=1`.

When on, `install()` wraps the functions of the serving path (the HTTP server's parser callback and
writes, the front's route and event steps, the wasm call's set-up, wasmtime's store and instance calls,
the guest call, each host function) with a timer; nothing in those modules checks a flag, so with it off
the path runs exactly the code it runs without this module. Times are exclusive: a stage nested in
another (a host call inside the guest call) is taken out of its parent's time, so the stages add up to
the time spent inside the outermost one. The substrate's health probe reports the totals (`stages`), and
`bench/serving_stages.py` turns them into a per-request table beside the process's measured CPU time.

Timed with `perf_counter_ns` on the event loop's thread: for calls that run inline (as PONG does) that
thread runs nothing else meanwhile, so on a machine with a core to spare the wall time of a stage is its
CPU time. A call on a worker thread is timed there too, and would be mixed with the loop's: read the
table of an inline function.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

ENV = "DREAM_STAGES"

_clock = time.perf_counter_ns
_totals: dict[str, int] = {}  # stage → exclusive ns
_counts: dict[str, int] = {}  # stage → times entered
_local = threading.local()  # per thread: the stack of open stages and the time it last changed
_installed = False


def enabled() -> bool:
    return os.environ.get(ENV, "") == "1"


def _stack() -> list[str]:
    stack: list[str] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
        _local.mark = _clock()
    return stack


def timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, with its time (less its nested stages') added to `stage`."""
    _totals.setdefault(stage, 0)
    _counts.setdefault(stage, 0)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stack = _stack()
        now = _clock()
        if stack:
            _totals[stack[-1]] += now - _local.mark
        stack.append(stage)
        _counts[stage] += 1
        _local.mark = now
        try:
            return fn(*args, **kwargs)
        finally:
            now = _clock()
            _totals[stack.pop()] += now - _local.mark
            _local.mark = now

    return wrapper


def snapshot() -> dict[str, dict[str, int]]:
    """{stage: {"ns": exclusive nanoseconds, "count": times entered}} since the process started."""
    return {stage: {"ns": _totals[stage], "count": _counts[stage]} for stage in _totals}


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
    from dream.http import server
    from dream.substrate import front, runner
    from dream.wasm import host, hostcall, rawcall

    _wrap(server.Connection, "data_received", "parse")  # llhttp and our callbacks, less the nested stages
    _wrap(front.Front, "_ready_for", "route")
    _wrap(front, "event_of", "event")
    _wrap(runner.Runner, "run_inline", "call set-up")  # admission check, streak bookkeeping
    _wrap(host.FunctionModule, "call", "call set-up")  # WASI config, the event, binding, the ticker
    # A new store with its limits, the instance, export look-ups, the store's deletion: one Python
    # function of plain C calls (the raw call path's; the others are not broken down).
    _wrap(rawcall, "run", "store and instance")
    _wrap(rawcall, "_call", "guest")  # its own code, wasmtime's trampolines, ctypes into host calls
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
