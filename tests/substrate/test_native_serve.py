"""An HTTP request's call in one C call (`FunctionModule.serve`, `nativecall.c` `serve`): for a module whose
every import is a C host call, the answer, its checks and every guarantee of a call are those of `call`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dream.wasm import WasmHost, WasmMemoryLimit, WasmTimeout, WasmTrap, hostcall, native
from dream.wasm.callpath import ENV
from dream.wasm.host import FunctionModule
from tests.substrate.conftest import MB, get, wat

pytestmark = pytest.mark.skipif(native.load()[0] is None, reason=native.load()[1] or "no native extension")

# native_edges without its one Python host call (the redirect): every import is then a C host call.
NO_REDIRECT = {
    '(import "taubyte/sdk" "eventHttpRedirect" (func $redirect (param i32 i32 i32 i32) (result i32)))': "",
    "(drop (call $redirect (i32.const 0) (i32.const 512) (i32.const 10) (i32.const 302)))": "",
}


def _serve(module: FunctionModule, export: str, path: bytes = b"/a/b", **limits: float) -> tuple:  # type: ignore[type-arg]
    serve = module.server(export)
    assert serve is not None
    return module.serve(
        serve,
        export,
        b"GET",
        b"example.com:8080",
        path,
        timeout=limits.get("timeout", 5),
        memory_limit=int(limits.get("memory", 16 * MB)),
    )


def test_serve_answers_as_call_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "native")
    with WasmHost(tmp_path) as host:
        module = host.load("edges", wat("native_edges", **NO_REDIRECT), name="functions/edges")
        called = module.call("edges", get("/a/b"), timeout=5, memory_limit=16 * MB)
        (status, headers, body, instantiate_ns, wasm_ns, _, problems), _ = _serve(module, "edges")
    assert (status, body) == (called.status, called.body) == (203, called.body)
    assert body.endswith(b"/a/b")
    # The headers as the HTTP server writes them: what `Front._answer` makes of `call`'s.
    assert headers == [
        (k.encode("latin-1", "replace"), v.encode("latin-1", "replace")) for k, v in called.headers
    ]
    assert headers[:4] == [
        (b"X-My-Header", b"a value"),
        (b"Content-Length", b"12"),
        (b"X-My-Header", b"line  break"),
        (b"X-My-Header", b"caf\xe9"),
    ]
    assert problems == 5  # the name with a space, the NUL, the bad Content-Length, the CR LF, the empty name
    assert instantiate_ns > 0 and wasm_ns > 0


def test_one_log_line_and_one_summary_per_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV, "native")
    with WasmHost(tmp_path) as host:
        module = host.load("edges", wat("native_edges", **NO_REDIRECT), name="functions/edges")
        with caplog.at_level(logging.WARNING):
            _serve(module, "edges")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "functions/edges: response header name 'bad name' is not a token (RFC 9110: letters, digits and "
        "!#$%&'*+-.^_`|~); the header was dropped",
        "functions/edges: 5 response header problems in one call (the first is logged above)",
    ]


def test_the_inspector_gets_the_same_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "native")
    monkeypatch.setattr(hostcall, "_counting", True)
    with WasmHost(tmp_path) as host:
        module = host.load("edges", wat("native_edges", **NO_REDIRECT), name="functions/edges")
        called = module.call("edges", get("/a/b"), timeout=5, memory_limit=16 * MB)
        (_, _, _, _, _, pages, _), counts = _serve(module, "edges")
    assert counts == called.host_calls
    assert counts is not None and counts["eventHttpHeaderAdd"] == 10 and counts["eventHttpWrite"] == 5
    assert pages == called.pages == 1


def test_without_counting_no_counts_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "native")
    monkeypatch.setattr(hostcall, "_counting", False)
    with WasmHost(tmp_path) as host:
        module = host.load("traps", wat("traps"), name="functions/traps")
        (status, headers, body, _, _, pages, _), counts = _serve(module, "ok")
    assert (status, headers, body, pages, counts) == (200, [], b"ok", 0, None)


def test_limits_hold_and_every_request_gets_a_fresh_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "native")
    with WasmHost(tmp_path) as host:
        traps = host.load("traps", wat("traps"), name="functions/traps")
        with pytest.raises(WasmTimeout, match="timed out after 100ms"):
            _serve(traps, "spin", timeout=0.1, memory=MB)
        with pytest.raises(WasmMemoryLimit, match="exceeded its memory limit of 10MB"):
            _serve(traps, "hog", memory=10 * MB)
        with pytest.raises(WasmTrap, match="integer division by zero"):
            _serve(traps, "divzero", memory=MB)
        with pytest.raises(WasmTrap, match="unreachable"):
            _serve(traps, "boom", memory=MB)
        assert _serve(traps, "ok", memory=MB)[0][2] == b"ok"


def test_only_modules_of_c_host_calls_on_the_native_path_are_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "native")
    with WasmHost(tmp_path / "native") as host:
        edges = host.load("edges", wat("native_edges"), name="functions/edges")
        assert edges.server("edges") is None  # the redirect is a Python host call: it needs an HttpEvent
        traps = host.load("traps", wat("traps"), name="functions/traps")
        assert traps.server("two_args") is None  # a wrong signature: `call` says why
        assert traps.server("missing") is None
        assert traps.server("ok") is not None
    monkeypatch.setenv(ENV, "raw")
    with WasmHost(tmp_path / "raw") as host:
        traps = host.load("traps", wat("traps"), name="functions/traps")
        assert traps.server("ok") is None
