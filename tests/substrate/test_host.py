"""WasmHost/FunctionModule: start-up forms, failures, limits, AOT cache, artefacts, threads."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import wasmtime

from dream.wasm import (
    FunctionModule,
    WasmError,
    WasmHost,
    WasmLoadError,
    WasmMemoryLimit,
    WasmTimeout,
    WasmTrap,
)
from tests.substrate.conftest import MB, get, wat

Loader = Callable[..., FunctionModule]


def test_infinite_loop_times_out_and_module_stays_usable(load: Loader) -> None:
    mod = load("traps")
    start = time.monotonic()
    with pytest.raises(WasmTimeout) as err:
        mod.call("spin", get(), timeout=0.2, memory_limit=MB)
    elapsed = time.monotonic() - start
    # Stopped by its own 200 ms timeout, not by some ceiling: 25 times the timeout is a margin no loaded
    # machine needs (how precisely it stops is a benchmark's business).
    assert 0.19 <= elapsed < 5, f"a call with a 200 ms timeout was stopped after {elapsed:.2f}s"
    assert str(err.value).startswith(
        "function `traps` (export `spin` of functions/traps) timed out after 200ms"
    )
    assert err.value.cause == "timed out after 200ms"
    assert mod.call("ok", get(), timeout=1, memory_limit=MB).body == b"ok"


def test_unreachable_is_a_trap_naming_the_cause(load: Loader) -> None:
    with pytest.raises(WasmTrap) as err:
        load("traps").call("boom", get(), timeout=1, memory_limit=MB)
    assert "trapped: wasm `unreachable` instruction executed" in str(err.value)
    assert err.value.cause == "wasm `unreachable` instruction executed"
    with pytest.raises(WasmTrap, match="integer division by zero"):
        load("traps").call("divzero", get(), timeout=1, memory_limit=MB)


def test_memory_grow_until_failure_is_a_memory_limit(load: Loader) -> None:
    with pytest.raises(WasmMemoryLimit) as err:
        load("traps").call("hog", get(), timeout=2, memory_limit=10 * MB)
    assert "exceeded its memory limit of 10MB" in str(err.value)
    assert isinstance(err.value, WasmError)


def test_huge_declared_memory_is_refused_at_instantiation(load: Loader) -> None:
    mod = load("traps", **{'(memory (export "memory") 1)': '(memory (export "memory") 1000)'})
    with pytest.raises(WasmMemoryLimit) as err:
        mod.call("ok", get(), timeout=1, memory_limit=10 * MB)
    assert "function `traps` (export `ok` of functions/traps) exceeded its memory limit of 10MB" in str(
        err.value
    )
    assert mod.call("ok", get(), timeout=1, memory_limit=128 * MB).body == b"ok"


def test_malformed_and_non_wasm_bytes(host: WasmHost) -> None:
    with pytest.raises(WasmLoadError, match=r"functions/bad \(k1\) is malformed wasm"):
        host.load("k1", b"\0asm\x01\0\0\0garbage", name="functions/bad")
    with pytest.raises(WasmLoadError, match="is not a WebAssembly module"):
        host.load("k2", b"hello", name="functions/bad")


def test_missing_or_mistyped_export(load: Loader) -> None:
    mod = load("traps")
    with pytest.raises(WasmLoadError, match=r"has no exported function `nope`.*execution.call"):
        mod.call("nope", get(), timeout=1, memory_limit=MB)
    with pytest.raises(WasmLoadError, match="must take exactly one i32"):
        mod.call("two_args", get(), timeout=1, memory_limit=MB)


def test_foreign_import_module_names_the_module(host: WasmHost) -> None:
    src = '(module (import "libraries/lib" "helper" (func (param i32))) (func (export "ping") (param i32)))'
    with pytest.raises(WasmLoadError) as err:
        host.load("k", wasmtime.wat2wasm(src), name="functions/uses-lib")
    assert "module `libraries/lib`" in str(err.value)
    assert err.value.cause == "missing import module `libraries/lib`"


def test_import_with_wrong_signature_is_a_load_error(host: WasmHost) -> None:
    src = '(module (import "taubyte/sdk" "eventHttpRetCode" (func (param i64))) (func (export "ping") (param i32)))'
    with pytest.raises(WasmLoadError, match="cannot be linked"):
        host.load("k", wasmtime.wat2wasm(src), name="functions/wrong")


def test_command_module_runs_start_with_argv(load: Loader) -> None:
    mod = load("command")
    resp = mod.call("ping", get(), timeout=1, memory_limit=MB)
    assert resp.body == b"functions/command"  # argv[0] is the module name
    # _start ending in proc_exit(0) is a normal start-up ...
    exits = load("command", **{"(i32.const -1))": "(i32.const 0))"})
    assert exits.call("ping", get(), timeout=1, memory_limit=MB).body == b"functions/command"
    # ... any other exit code is a failure
    with pytest.raises(WasmTrap, match="exited with code 3"):
        load("command", **{"(i32.const -1))": "(i32.const 3))"}).call(
            "ping", get(), timeout=1, memory_limit=MB
        )


def test_reactor_module_runs_initialize_first(load: Loader) -> None:
    assert load("reactor").call("ping", get(), timeout=1, memory_limit=MB).body == b"warm"


def test_calls_are_isolated(load: Loader) -> None:
    mod = load("abi")
    first = mod.call("retcode", get(), timeout=1, memory_limit=MB)
    second = mod.call("method", get(method="PUT"), timeout=1, memory_limit=MB)
    assert first.status == 201 and second.status == 200 and second.body == b"PUT"


def test_aot_cache_is_reused_by_a_second_host(tmp_path: Path) -> None:
    wasm = wat("ping")
    with WasmHost(tmp_path) as first:
        mod = first.load("cid-1", wasm, name="functions/ping")
        assert (first.cache.compiled, first.cache.deserialized) == (1, 0)
        assert mod.cache_path.exists() and mod.cache_path.parent == tmp_path
    with WasmHost(tmp_path) as second:
        mod2 = second.load("cid-1", wasm, name="functions/ping")
        assert (second.cache.compiled, second.cache.deserialized) == (0, 1)
        assert mod2.cache_path == mod.cache_path
        assert mod2.call("ping", get(), timeout=1, memory_limit=MB).body == b"PONG"


def test_a_build_compiled_here_loads_by_its_cid_without_its_bytes(tmp_path: Path) -> None:
    with WasmHost(tmp_path) as builder:  # what monkey does when it publishes a build
        mod = builder.load("functions/ping", wat("ping"), name="functions/ping")
        builder.cache.put("bafkreibuild", mod.cache_path)
    with WasmHost(tmp_path) as substrate:
        assert substrate.load_cid("bafkreiother", name="functions/ping") is None
        loaded = substrate.load_cid("bafkreibuild", name="functions/ping")
        assert loaded is not None and substrate.cache.compiled == 0
        assert loaded.call("ping", get(), timeout=1, memory_limit=MB).body == b"PONG"
        # Replaced, never rewritten in place (modules map these files), as the cache itself does.
        compiled = substrate.cache.cid_path("bafkreibuild").resolve()
        compiled.with_name("garbage").write_bytes(b"not a compiled module")
        compiled.with_name("garbage").replace(compiled)
        assert substrate.load_cid("bafkreibuild", name="functions/ping") is None  # falls back to fetching


def test_corrupt_cache_file_falls_back_to_compiling(tmp_path: Path) -> None:
    wasm = wat("ping")
    with WasmHost(tmp_path) as h:
        h.cache.path_for(wasm).write_bytes(b"not a compiled module")
        mod = h.load("k", wasm, name="functions/ping")
        assert (h.cache.compiled, h.cache.deserialized) == (1, 0)
        assert mod.call("ping", get(), timeout=1, memory_limit=MB).body == b"PONG"
        assert h.cache.path_for(wasm).read_bytes() != b"not a compiled module"


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zwasm_artefact(host: WasmHost) -> None:
    mod = host.load_artifact("k", _zip({"main.wasm": wat("ping")}), name="functions/ping")
    assert mod.call("ping", get(), timeout=1, memory_limit=MB).body == b"PONG"
    old = host.load("k2", _zip({"artifact.wasm": wat("ping")}), name="functions/ping")  # load() sniffs zips
    assert old.call("ping", get(), timeout=1, memory_limit=MB).body == b"PONG"
    with pytest.raises(WasmLoadError, match=r"holds no main.wasm or artifact.wasm \(it has readme.txt\)"):
        host.load_artifact("k3", _zip({"readme.txt": b"hi"}), name="functions/ping")
    with pytest.raises(WasmLoadError, match="not a readable zip"):
        host.load_artifact("k4", b"PK\x03\x04broken", name="functions/ping")


def test_parallel_calls_on_threads(load: Loader) -> None:
    ping, traps = load("ping"), load("traps")

    def one(i: int) -> bytes:
        if i == 0:  # one call spins until its timeout while the others complete
            with pytest.raises(WasmTimeout):
                traps.call("spin", get(), timeout=0.3, memory_limit=MB)
            return b"timeout"
        return ping.call("ping", get(), timeout=2, memory_limit=MB).body

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(200)))
    assert results[0] == b"timeout" and results[1:] == [b"PONG"] * 199


def test_stopped_host_refuses_calls(tmp_path: Path) -> None:
    h = WasmHost(tmp_path)
    mod = h.load("k", wat("ping"), name="functions/ping")
    h.stop()
    assert not h.ticker.alive
    with pytest.raises(WasmError, match="host has been stopped"):
        mod.call("ping", get(), timeout=1, memory_limit=MB)


def test_without_pooling_allocator(tmp_path: Path) -> None:
    with WasmHost(tmp_path, pooling=False) as h:
        mod = h.load("k", wat("traps"), name="functions/traps")
        assert mod.call("ok", get(), timeout=1, memory_limit=MB).body == b"ok"
        with pytest.raises(WasmMemoryLimit):
            mod.call("hog", get(), timeout=2, memory_limit=4 * MB)


def test_captured_guest_output_goes_to_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = """(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 32) "to stderr\\n")
      (func (export "ping") (param i32)
        (i32.store (i32.const 0) (i32.const 32)) (i32.store (i32.const 4) (i32.const 10))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 16)))
        (unreachable)))"""
    with (
        WasmHost(tmp_path, capture_output=True) as h,
        caplog.at_level("INFO", logger="dream.wasm.guest"),
    ):
        mod = h.load("k", wasmtime.wat2wasm(src), name="functions/noisy")
        with pytest.raises(WasmTrap, match="its stderr ended with: to stderr"):
            mod.call("ping", get(), timeout=1, memory_limit=MB)
    assert "functions/noisy [stderr]: to stderr" in caplog.text


GROW_THEN_WRITE = """(module
  (import "taubyte/sdk" "eventHttpWrite" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "getHttpEventMethodSize" (func $methodSize (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "early")
  (func (export "ping") (param $ev i32) (result i32)
    ;; a first host call while memory is one page (the host keeps a view of that page)
    (drop (call $write (local.get $ev) (i32.const 16) (i32.const 5) (i32.const 64)))
    ;; then grow to two pages and have the host write into the second one
    (drop (memory.grow (i32.const 1)))
    (drop (call $methodSize (local.get $ev) (i32.const 70000)))
    (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.load (i32.const 70000))))
    (drop (call $write (local.get $ev) (i32.const 100) (i32.const 1) (i32.const 64)))
    (i32.const 0)))
"""


def test_host_functions_see_memory_the_guest_grew_between_calls(host: WasmHost) -> None:
    mod = host.load("grow", wasmtime.wat2wasm(GROW_THEN_WRITE), name="functions/grow")
    resp = mod.call("ping", get(method="GET"), timeout=1, memory_limit=MB)
    assert resp.body == b"early3"  # len("GET") written at 70000, past the first page
