"""Choose the call path (`callpath`) once per process: the best one that passes a self-test.

Each path first says what it lacks in this wasmtime-py (`CallPath.problem`: missing private attributes,
a changed struct size), so a changed layout is noticed before anything is called through it; then it
runs a tiny built-in module end to end: host functions defined its way, instantiate with WASI, limits
and deadline checks, `_initialize`, the export with event id 0, a host function reading guest memory
and one taking the value the guest computed from the first's answer. A path that lacks something,
raises, or gets a wrong answer is not used.

`DREAM_WASM_CALL` forces a path (`raw`, `object`, `plain`); unset or `auto` takes the best that passes.
A forced path that fails is an error naming the variable; an automatic choice that had to fall back says
why in one warning line at start-up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import wasmtime

from dream.errors import DreamError
from dream.wasm import guest_memory, interrupt
from dream.wasm.callpath import BEST_FIRST, ENV, PATHS, CallFailed, CallPath

log = logging.getLogger("dream.wasm")

AUTO = "auto"
_MODULE = "dream_selftest"
# run(id): memory[8] = 0x1234; report(check(8 + id) * 2 + 1). `check` answers 20 after reading 0x1234.
_WAT = """(module
  (import "dream_selftest" "check" (func $check (param i32) (result i32)))
  (import "dream_selftest" "report" (func $report (param i32)))
  (memory (export "memory") 1)
  (global $ready (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $ready (i32.const 1)))
  (func (export "run") (param i32) (result i32)
    (i32.store (i32.const 8) (i32.const 0x1234))
    (call $report (i32.add (i32.mul (call $check (i32.add (i32.const 8) (local.get 0))) (i32.const 2))
                           (global.get $ready)))
    (i32.const 0)))"""
_EXPECTED = (0x1234, 41)
# Room for the self-test call (it takes well under a millisecond): not limits anyone meets.
_TIMEOUT = 5.0
_MEMORY = 1 << 20

_chosen: dict[str, CallPath] = {}  # DREAM_WASM_CALL value → the path chosen for it in this process
_lock = threading.Lock()


class CallPathError(DreamError):
    """DREAM_WASM_CALL names a path that is unknown, or that does not work with this wasmtime."""


def requested() -> str:
    value = os.environ.get(ENV, "").strip().lower() or AUTO
    if value != AUTO and value not in PATHS:
        raise CallPathError(
            f"{ENV}={os.environ.get(ENV)!r} is not a wasm call path; use one of "
            f"{', '.join(BEST_FIRST)} or {AUTO} (or leave it unset)"
        )
    return value


def choose(engine: wasmtime.Engine) -> CallPath:
    """The call path for hosts of this process (tested with `engine` the first time it is asked for)."""
    value = requested()
    with _lock:
        path = _chosen.get(value)
        if path is None:
            path = _chosen[value] = _choose(engine, value)
    return path


def chosen() -> str | None:
    """The name of the path this process's hosts call through (None before the first host started)."""
    try:
        return _chosen[requested()].name
    except (KeyError, CallPathError):
        return None


def _choose(engine: wasmtime.Engine, value: str) -> CallPath:
    deadline_checks = "on" if interrupt.AVAILABLE else "off (a call is stopped by its epoch deadline alone)"
    if value != AUTO:
        path = PATHS[value]()
        failure = check(path, engine)
        if failure is not None:
            raise CallPathError(
                f"{ENV}={value} forces the {path.title} path, which does not work with wasmtime "
                f"{_version()}: {failure}; unset {ENV} to use the best path that does"
            )
        log.info("wasm calls: %s (%s=%s; deadline checks %s)", path.title, ENV, value, deadline_checks)
        return path
    failed: list[str] = []
    for name in BEST_FIRST:
        path = PATHS[name]()
        failure = check(path, engine)
        if failure is None:
            if failed:
                log.warning(
                    "wasm calls: %s, the fallback, as wasmtime %s does not work with the faster paths (%s); "
                    "calls are slower, deadline checks %s. The wasmtime release pinned in dream's "
                    "pyproject.toml restores the fast path",
                    path.title,
                    _version(),
                    "; ".join(failed),
                    deadline_checks,
                )
            else:
                log.info("wasm calls: %s (deadline checks %s)", path.title, deadline_checks)
            return path
        failed.append(f"{path.title} unavailable: {failure}")
    raise CallPathError(f"no wasm call path works with wasmtime {_version()}: {'; '.join(failed)}")


def check(path: CallPath, engine: wasmtime.Engine) -> str | None:
    """Why `path` cannot be used here (None: it passed its self-test)."""
    try:
        missing = path.problem()
        if missing is not None:
            return missing
        got = _run(path, engine)
    except CallFailed as exc:
        return f"its self-test failed: {exc.error}"
    except Exception as exc:  # anything a changed wasmtime-py raises means: not this path
        return f"its self-test failed: {type(exc).__name__}: {exc}"
    if got != _EXPECTED:
        return f"its self-test got {got}, expected {_EXPECTED}"
    return None


class _Event:
    """What a call needs of an HttpEvent here: the store context slot the raw path fills in."""

    ctx: Any = None
    host_calls: Any = None  # no figures measured for the self-test's calls
    measure = False


def _run(path: CallPath, engine: wasmtime.Engine) -> tuple[int | None, int | None]:
    seen: dict[str, int] = {}

    def check_fn(caller: Any, ptr: int) -> int:
        view = guest_memory.view_of(caller)
        seen["read"] = int.from_bytes(view[ptr : ptr + 4], "little") if view is not None else -1
        return 20

    def report(caller: Any, value: int) -> None:
        seen["report"] = value

    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    path.define(linker, _MODULE, "check", ("i32",), True, check_fn)
    path.define(linker, _MODULE, "report", ("i32",), False, report)
    module = wasmtime.Module(engine, _WAT)
    init_ty = next(e.type for e in module.exports if e.name == "_initialize")
    run_ty = next(e.type for e in module.exports if e.name == "run")
    assert isinstance(init_ty, wasmtime.FuncType) and isinstance(run_ty, wasmtime.FuncType)
    linked = path.link(engine, linker.instantiate_pre(module), "_initialize", init_ty)
    sig = path.signature(run_ty, b"run")
    control = interrupt.CallControl(time.monotonic() + _TIMEOUT)
    path.plan(linked, sig)(_MEMORY, control.first_ticks(), wasmtime.WasiConfig(), _Event(), control)
    return seen.get("read"), seen.get("report")


def _version() -> str:
    from dream.wasm.cache import wasmtime_version

    return wasmtime_version()
