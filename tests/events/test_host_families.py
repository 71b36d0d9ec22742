"""The event host families on the wasm host alone (WAT modules): ethereum and the old ipfs client give a
load error saying tau leaves them out; the HTTP client's bad input gets upstream's errno; cryptoRead and
self answer within bounds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from dream.wasm import WasmHost, WasmLoadError
from dream.wasm.scope import FunctionScope
from dream.wasm.types import HttpRequest

MB = 1 << 20


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WasmHost]:
    with WasmHost(Path(tmp_path_factory.mktemp("aot"))) as h:
        yield h


def get() -> HttpRequest:
    return HttpRequest(method="GET", host="x", path="/", query=[], raw_headers=[], body=b"")


@pytest.mark.parametrize(
    ("name", "family"), [("ethNewClient", "ethereum"), ("newIpfsClient", "ipfs"), ("ipfsReadFile", "ipfs")]
)
def test_a_module_importing_a_family_tau_leaves_out_does_not_load(
    host: WasmHost, name: str, family: str
) -> None:
    src = f'(module (import "taubyte/sdk" "{name}" (func (param i32) (result i32))) (func (export "f") (param i32)))'
    with pytest.raises(WasmLoadError) as err:
        host.load("k", wasmtime.wat2wasm(src), name="functions/old")
    text = str(err.value)
    assert f"functions/old imports {name}" in text
    assert "upstream's current host (tau) leaves out" in text and "remove those calls" in text
    assert err.value.cause == "imports a family tau leaves out"


# Each export writes the errno of one call as the response status (200 + errno), at offset 0 a u32 out.
_CALLS = """
(module
  (import "taubyte/sdk" "newHttpClient" (func $client (param i32) (result i32)))
  (import "taubyte/sdk" "newHttpRequest" (func $request (param i32 i32) (result i32)))
  (import "taubyte/sdk" "setHttpRequestMethod" (func $method (param i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "setHttpRequestURL" (func $url (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "doHttpRequest" (func $do (param i32 i32) (result i32)))
  (import "taubyte/sdk" "readHttpResponseBody" (func $read (param i32 i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "cryptoRead" (func $rand (param i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "selfProjectSize" (func $projectSize (param i32) (result i32)))
  (import "taubyte/sdk" "selfProject" (func $project (param i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $ret (param i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpWrite" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "http://[::1")
  (data (i32.const 120) "ftp://example.com/")
  (func $answer (param $ev i32) (param $code i32) (result i32)
    (drop (call $ret (local.get $ev) (i32.add (i32.const 200) (local.get $code)))) (i32.const 0))
  (func (export "unknown_client") (param $ev i32) (result i32)
    (call $answer (local.get $ev) (call $request (i32.const 99) (i32.const 0))))
  (func (export "unknown_request") (param $ev i32) (result i32)
    (drop (call $client (i32.const 0)))
    (call $answer (local.get $ev) (call $method (i32.load (i32.const 0)) (i32.const 7) (i32.const 1))))
  (func (export "bad_method") (param $ev i32) (result i32)
    (drop (call $client (i32.const 0)))
    (drop (call $request (i32.load (i32.const 0)) (i32.const 4)))
    (call $answer (local.get $ev) (call $method (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 10))))
  (func (export "bad_url") (param $ev i32) (result i32)
    (drop (call $client (i32.const 0)))
    (drop (call $request (i32.load (i32.const 0)) (i32.const 4)))
    (call $answer (local.get $ev) (call $url (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 100) (i32.const 11))))
  (func (export "bad_scheme") (param $ev i32) (result i32)
    (drop (call $client (i32.const 0)))
    (drop (call $request (i32.load (i32.const 0)) (i32.const 4)))
    (drop (call $url (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 120) (i32.const 18)))
    (call $answer (local.get $ev) (call $do (i32.load (i32.const 0)) (i32.load (i32.const 4)))))
  (func (export "read_before_do") (param $ev i32) (result i32)
    (drop (call $client (i32.const 0)))
    (drop (call $request (i32.load (i32.const 0)) (i32.const 4)))
    (call $answer (local.get $ev)
      (call $read (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 200) (i32.const 10) (i32.const 8))))
  (func (export "rand_out_of_bounds") (param $ev i32) (result i32)
    (call $answer (local.get $ev) (call $rand (i32.const 65530) (i32.const 16) (i32.const 8))))
  (func (export "rand") (param $ev i32) (result i32)
    (drop (call $rand (i32.const 200) (i32.const 16) (i32.const 8)))
    (drop (call $write (local.get $ev) (i32.const 200) (i32.load (i32.const 8)) (i32.const 16)))
    (call $answer (local.get $ev) (i32.load (i32.const 12))))
  (func (export "project") (param $ev i32) (result i32)
    (drop (call $projectSize (i32.const 8)))
    (drop (call $project (i32.const 200)))
    (drop (call $write (local.get $ev) (i32.const 200) (i32.load (i32.const 8)) (i32.const 16)))
    (call $answer (local.get $ev) (i32.const 0)))
)
"""


@pytest.mark.parametrize(
    ("export", "errno"),
    [
        ("unknown_client", 10),  # ErrorClientNotFound
        ("unknown_request", 3),  # upstream's answer for a request id it never handed out
        ("bad_method", 14),  # ErrorInvalidMethod: past CONNECT (9)
        ("bad_url", 11),  # ErrorParseUrlFailed
        ("bad_scheme", 13),  # ErrorHttpRequestFailed
        ("read_before_do", 4),  # ErrorNilAddress: no response yet
        ("rand_out_of_bounds", 3),  # ErrorAddressOutOfMemory
    ],
)
def test_bad_calls_get_upstream_s_errno(host: WasmHost, export: str, errno: int) -> None:
    mod = host.load("calls", wasmtime.wat2wasm(_CALLS), name="functions/calls")
    assert mod.call(export, get(), timeout=2, memory_limit=MB).status == 200 + errno


def test_crypto_read_fills_the_buffer_and_counts_in_a_u64(host: WasmHost) -> None:
    mod = host.load("calls", wasmtime.wat2wasm(_CALLS), name="functions/calls")
    first = mod.call("rand", get(), timeout=2, memory_limit=MB)
    second = mod.call("rand", get(), timeout=2, memory_limit=MB)
    assert first.status == second.status == 200  # the count's high half is 0
    assert len(first.body) == len(second.body) == 16 and first.body != second.body


def test_self_without_a_scope_is_empty_and_with_one_is_the_project(host: WasmHost) -> None:
    mod = host.load("calls", wasmtime.wat2wasm(_CALLS), name="functions/calls")
    assert mod.call("project", get(), timeout=2, memory_limit=MB).body == b""
    scope = FunctionScope(project="QmProject", resource="QmFunction")
    assert mod.call("project", get(), timeout=2, memory_limit=MB, scope=scope).body == b"QmProject"


# A view of "hello world" read in two pieces (the second after the guest changed a byte: a view reads the
# region as it is), a fifo pushed and popped to EOF; the response body is what was read, the status
# 200 + the errno of the last step.
_I2MV = """
(module
  (import "taubyte/sdk" "memoryViewNew" (func $new (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "memoryViewOpen" (func $open (param i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "memoryViewRead" (func $read (param i32 i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "memoryViewClose" (func $close (param i32)))
  (import "taubyte/sdk" "fifoNew" (func $fifo (param i32) (result i32)))
  (import "taubyte/sdk" "fifoPush" (func $push (param i32 i32) (result i32)))
  (import "taubyte/sdk" "fifoPop" (func $pop (param i32 i32) (result i32)))
  (import "taubyte/sdk" "fifoIsCloser" (func $isCloser (param i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $ret (param i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpWrite" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello world")
  (data (i32.const 90) "\\01\\07")
  (func $answer (param $ev i32) (param $code i32) (result i32)
    (drop (call $ret (local.get $ev) (i32.add (i32.const 200) (local.get $code)))) (i32.const 0))
  (func (export "view") (param $ev i32) (result i32)
    (local $id i32)
    (drop (call $new (i32.const 100) (i32.const 11) (i32.const 90) (i32.const 0)))
    (local.set $id (i32.load (i32.const 0)))
    (drop (call $open (local.get $id) (i32.const 4) (i32.const 8)))           ;; 4: closable, 8: size
    (drop (call $read (local.get $id) (i32.const 0) (i32.const 5) (i32.const 200) (i32.const 12)))
    (drop (call $write (local.get $ev) (i32.const 200) (i32.load (i32.const 12)) (i32.const 16)))
    (i32.store8 (i32.const 106) (i32.const 87))                                 ;; "world" -> "World"
    (drop (call $read (local.get $id) (i32.const 5) (i32.const 100) (i32.const 200) (i32.const 12)))
    (drop (call $write (local.get $ev) (i32.const 200) (i32.load (i32.const 12)) (i32.const 16)))
    (call $close (local.get $id))
    (call $answer (local.get $ev)
      (i32.add (i32.load8_u (i32.const 4))                                      ;; closable: 1
               (i32.mul (i32.const 2)
                 (i32.eq (call $open (local.get $id) (i32.const 4) (i32.const 8)) (i32.const 111))))))
  (func (export "bad_bool") (param $ev i32) (result i32)
    (call $answer (local.get $ev) (call $new (i32.const 100) (i32.const 11) (i32.const 91) (i32.const 0))))
  (func (export "past_end") (param $ev i32) (result i32)
    (drop (call $new (i32.const 100) (i32.const 11) (i32.const 90) (i32.const 0)))
    (call $answer (local.get $ev)
      (call $read (i32.load (i32.const 0)) (i32.const 11) (i32.const 1) (i32.const 200) (i32.const 12))))
  (func (export "fifo") (param $ev i32) (result i32)
    (local $f i32)
    (local.set $f (call $fifo (i32.const 1)))
    (drop (call $push (local.get $f) (i32.const 65)))
    (drop (call $push (local.get $f) (i32.const 66)))
    (drop (call $pop (local.get $f) (i32.const 200)))
    (drop (call $pop (local.get $f) (i32.const 201)))
    (drop (call $isCloser (local.get $f) (i32.const 202)))
    (i32.store8 (i32.const 202) (i32.add (i32.const 48) (i32.load8_u (i32.const 202))))
    (drop (call $write (local.get $ev) (i32.const 200) (i32.const 3) (i32.const 16)))
    (call $answer (local.get $ev) (call $pop (local.get $f) (i32.const 203))))
  (func (export "fifo_unknown") (param $ev i32) (result i32)
    (call $answer (local.get $ev) (call $push (i32.const 42) (i32.const 1))))
)
"""


def test_memory_views_and_fifos(host: WasmHost) -> None:
    mod = host.load("i2mv", wasmtime.wat2wasm(_I2MV), name="functions/i2mv")
    view = mod.call("view", get(), timeout=2, memory_limit=MB)
    assert view.body == b"hello World"  # the second read saw the guest's change
    assert view.status == 200 + 1 + 2  # closable (1), then ErrorMemoryViewNotFound (111) once closed (2)
    assert mod.call("bad_bool", get(), timeout=2, memory_limit=MB).status == 200 + 114  # ErrorInvalidBool
    assert mod.call("past_end", get(), timeout=2, memory_limit=MB).status == 200 + 3
    fifo = mod.call("fifo", get(), timeout=2, memory_limit=MB)
    assert (fifo.body, fifo.status) == (b"AB1", 200 + 8)  # first in, first out; then EOF
    assert (
        mod.call("fifo_unknown", get(), timeout=2, memory_limit=MB).status == 200 + 115
    )  # ErrorFifoNotFound
