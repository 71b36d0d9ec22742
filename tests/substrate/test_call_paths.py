"""The wasm call path: each one forced by DREAM_WASM_CALL is the one used, and a wasmtime-py whose private
layout changed (or a missing native extension) falls back with one start-up line, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dream.wasm import WasmHost, rawcall
from dream.wasm.callpath import ENV
from dream.wasm.selftest import CallPathError
from tests.substrate.conftest import get, wat

PATHS = ("native", "raw", "object", "plain")
TITLES = {"raw": "raw C calls", "object": "object API fast path", "plain": "plain wasmtime-py"}


@pytest.mark.parametrize("name", PATHS)
def test_a_forced_path_is_the_one_calls_take(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, name)
    with WasmHost(tmp_path) as host:
        assert host.call_path.name == name
        module = host.load("t", wat("ping"), name="functions/ping")
        response = module.call("ping", get(), timeout=5, memory_limit=16 << 20)
        assert (response.status, response.body) == (200, b"PONG")
        # What the module was linked for and how its export is called follow the path.
        assert module._path is host.call_path
        assert (module._linked.pre_address != 0) is (name in ("native", "raw"))
        assert (getattr(module._plans["ping"], "func", None) is rawcall.run) is (name == "raw")
        planned = getattr(module._plans["ping"], "func", None)
        assert (getattr(planned, "__name__", "") == "_call_native") is (name == "native")


def test_auto_takes_the_native_path_when_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # scripts/setup-venv builds the extension: with this wasmtime, the best path is the native one.
    monkeypatch.setenv(ENV, "auto")
    with WasmHost(tmp_path) as host:
        assert host.call_path.name == "native"


def test_an_unknown_path_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "fast")
    with pytest.raises(
        CallPathError, match=r"DREAM_WASM_CALL='fast' is not a wasm call path; use one of native, raw"
    ):
        WasmHost(tmp_path)


# A fresh interpreter whose wasmtime-py is changed (`breakage`) before dream is imported, then a host that
# serves the ping function; it prints the path taken.
_SCRIPT = """
import logging, sys, tempfile
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
import wasmtime
{breakage}
from dream.wasm import HttpRequest, WasmHost
from tests.substrate.conftest import wat
with WasmHost(tempfile.mkdtemp()) as host:
    module = host.load("t", wat("ping"), name="functions/ping")
    response = module.call("ping", HttpRequest(method="GET", host="h", path="/ping"), timeout=5, memory_limit=1 << 24)
    print(host.call_path.name, response.status, response.body.decode())
"""

_ROOT = Path(__file__).resolve().parents[2]


def _run(breakage: str, call: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if call:
        env[ENV] = call
    script = _SCRIPT.format(breakage=textwrap.dedent(breakage))
    return subprocess.run(
        [sys.executable, "-c", script], cwd=_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


# A release that renamed WasiConfig's private hand-over to the store (its own set_wasi follows).
_NO_CONSUME = """
wasmtime.WasiConfig._hand_over = wasmtime.WasiConfig._consume
wasmtime.WasiConfig._consume = None
def set_wasi(store, wasi):
    error = wasmtime._ffi.wasmtime_context_set_wasi(store._context(), wasi._hand_over())
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
wasmtime.Store.set_wasi = set_wasi
"""
# A release that renamed Func._from_raw (wasmtime-py's own users of it follow).
_NO_FROM_RAW = """
import wasmtime._extern, wasmtime._func, wasmtime._instance, wasmtime._linker
wasmtime.Func._wrap = wasmtime.Func._from_raw
wasmtime.Func._from_raw = None
unwrapped = wasmtime._extern.wrap_extern
def wrap_extern(item):
    if item.kind == wasmtime._ffi.WASMTIME_EXTERN_FUNC.value:
        return wasmtime.Func._wrap(item.of.func)
    return unwrapped(item)
for user in (wasmtime._extern, wasmtime._func, wasmtime._instance, wasmtime._linker):
    user.wrap_extern = wrap_extern
"""
# A wasmtime_val_raw_t twice as wide: the raw host callbacks would read their arguments at wrong offsets.
_WIDER_VAL_RAW = """
import ctypes
class Wider(ctypes.Union):
    _fields_ = [("i32", ctypes.c_int32), ("pad", ctypes.c_uint8 * 32)]
wasmtime._ffi.wasmtime_val_raw_t = Wider
"""
# The native extension is not there (not built, or built for another Python): the raw path serves.
_NO_NATIVE = """
sys.modules["dream.wasm._nativecall"] = None
"""
# No private bindings at all: `from wasmtime import _ffi` fails.
_NO_FFI = """
del wasmtime._ffi
sys.modules["wasmtime._ffi"] = None
"""


@pytest.mark.parametrize(
    ("breakage", "path", "reasons"),
    [
        (
            _NO_NATIVE,
            "raw",
            ["native C calls unavailable", "the compiled extension does not load", "setup-venv"],
        ),
        (_NO_CONSUME, "object", ["raw C calls unavailable", "wasmtime.WasiConfig._consume is missing"]),
        (_WIDER_VAL_RAW, "object", ["native C calls unavailable", "wasmtime's structs changed size"]),
        (_NO_FROM_RAW, "plain", ["raw C calls unavailable", "object API fast path unavailable", "_from_raw"]),
        (
            _NO_FFI,
            "plain",
            ["raw C calls unavailable", "object API fast path unavailable", "wasmtime._ffi lacks"],
        ),
    ],
    ids=["no-native-extension", "no-WasiConfig._consume", "wider-val_raw", "no-Func._from_raw", "no-_ffi"],
)
def test_a_changed_wasmtime_falls_back_with_one_line(breakage: str, path: str, reasons: list[str]) -> None:
    done = _run(breakage)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [path, "200", "PONG"]
    warnings = [
        line for line in done.stderr.splitlines() if line.startswith("WARNING dream.wasm: wasm calls:")
    ]
    assert len(warnings) == 1, done.stderr
    assert f"wasm calls: {TITLES[path]}, the fallback" in (warnings[0])
    for reason in reasons:
        assert reason in warnings[0]


def test_a_forced_path_that_fails_its_check_names_the_variable() -> None:
    done = _run(_NO_CONSUME, call="raw")
    assert done.returncode == 1, done.stderr  # an exception, not a crash (a signal is a negative code)
    assert (
        "CallPathError: DREAM_WASM_CALL=raw forces the raw C calls path, which does not work with wasmtime"
        in done.stderr
    )
    assert "wasmtime.WasiConfig._consume is missing; unset DREAM_WASM_CALL" in done.stderr
