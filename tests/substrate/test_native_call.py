"""The native call path (`dream.wasm.native`, `_native/nativecall.c`): its C host calls answer exactly as the
Python ones (errno, bounds, the first status wins), and every guarantee of a call holds on it."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from dream.wasm import HttpResponse, WasmHost, WasmMemoryLimit, WasmTimeout, WasmTrap, hostcall, native
from dream.wasm.callpath import ENV
from tests.substrate.conftest import MB, get, wat

# (unknown id: untouched, unknown id, size out of memory, method buffer too small, method out of memory,
#  host buffer too small, path into a bigger buffer, code 99, unknown id, body out of memory, count
#  pointer out of memory, flush of an unknown id, flush, code -1, code 203, body at a negative pointer)
EDGES = bytes([77, 1, 12, 2, 3, 2, 0, 5, 1, 3, 12, 1, 0, 5, 0, 3])
# eventHttpHeaderAdd: a usual header (added, canonical, trimmed), a name with a space (dropped), a NUL in
# the value (dropped), a Content-Length that is not a number (dropped) and one that is, CR LF in a value
# (kept on one line), a UTF-8 value (kept), an unknown id, a name out of memory, an empty name (dropped).
HEADER_EDGES = bytes([0, 5, 5, 5, 0, 0, 0, 1, 3, 5])

pytestmark = pytest.mark.skipif(native.load()[0] is None, reason=native.load()[1] or "no native extension")


def _call(path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export: str = "edges") -> HttpResponse:
    monkeypatch.setenv(ENV, path)
    with WasmHost(tmp_path / path) as host:
        assert host.call_path.name == path
        module = host.load("edges", wat("native_edges"), name="functions/edges")
        return module.call(export, get("/a/b"), timeout=5, memory_limit=16 * MB)


def test_c_host_calls_answer_as_the_python_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {path: _call(path, tmp_path, monkeypatch) for path in ("native", "raw", "plain")}
    native_answer = answers["native"]
    assert native_answer.body[:26] == EDGES + HEADER_EDGES
    assert native_answer.headers[:4] == [
        ("X-My-Header", "a value"),
        ("Content-Length", "12"),
        ("X-My-Header", "line  break"),
        ("X-My-Header", "café"),
    ]
    assert native_answer.status == 203  # set in C before the redirect (Python): the first one stays
    assert native_answer.body.endswith(b"/a/b")
    assert dict(native_answer.headers)["Location"] == "/elsewhere"
    for path in ("raw", "plain"):
        got = answers[path]
        assert (got.status, got.headers, got.body) == (
            native_answer.status,
            native_answer.headers,
            native_answer.body,
        ), path


def test_the_inspector_counts_c_host_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostcall, "_counting", True)
    answer = _call("native", tmp_path, monkeypatch)
    assert answer.host_calls is not None
    assert answer.host_calls["eventHttpWrite"] == 5
    assert answer.host_calls["eventHttpHeaderAdd"] == 10
    assert answer.host_calls["eventHttpRedirect"] == 1  # a Python host call, counted as before
    assert answer.host_calls["getEventType"] == 1
    assert answer.instantiate_ns > 0 and answer.wasm_ns > 0 and answer.pages == 1


def test_limits_hold_on_the_native_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "native")
    with WasmHost(tmp_path) as host:
        traps = host.load("traps", wat("traps"), name="functions/traps")
        with pytest.raises(WasmTimeout, match="timed out after 100ms"):
            traps.call("spin", get(), timeout=0.1, memory_limit=MB)
        with pytest.raises(WasmMemoryLimit, match="exceeded its memory limit of 10MB"):
            traps.call("hog", get(), timeout=2, memory_limit=10 * MB)
        with pytest.raises(WasmTrap, match="integer division by zero"):
            traps.call("divzero", get(), timeout=1, memory_limit=MB)
        # Each request has a fresh instance: the call after the failures answers as ever.
        assert traps.call("ok", get(), timeout=1, memory_limit=MB).body == b"ok"


# An export returning a reference is not a plain-number signature: the native path calls it through the
# object path, with its C host calls told which event they answer for.
_REF_RESULT = """(module
  (import "taubyte/sdk" "eventHttpWrite" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $ret (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "PONG")
  (func (export "ping") (param $ev i32) (result funcref)
    (drop (call $write (local.get $ev) (i32.const 16) (i32.const 4) (i32.const 64)))
    (drop (call $ret (local.get $ev) (i32.const 202)))
    (ref.null func)))"""


def test_a_call_the_object_path_makes_still_reaches_the_c_host_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "native")
    with WasmHost(tmp_path) as host:
        module = host.load("ref", wasmtime.wat2wasm(_REF_RESULT), name="functions/ref")
        for _ in range(2):  # the event is bound for each call, and unbound after
            answer = module.call("ping", get(), timeout=5, memory_limit=16 * MB)
            assert (answer.status, answer.body) == (202, b"PONG")
        planned = module._plans["ping"]
        assert getattr(planned, "func", None).__name__ == "_bound"  # type: ignore[union-attr]
