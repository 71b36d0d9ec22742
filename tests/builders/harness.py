"""A tiny taubyte/sdk host on wasmtime-py, enough to run a built HTTP function once per request."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

I32 = wasmtime.ValType.i32()
EOF_ERRNO = 8
_ENGINE = wasmtime.Engine()


@dataclass
class Request:
    method: str = "GET"
    path: str = "/ping"
    host: str = "example.localtau"
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Response:
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


def _nul_list(items: list[str]) -> bytes:
    return b"".join(item.encode() + b"\0" for item in items)


def run(wasm: Path, export: str, request: Request) -> Response:
    """Instantiate `wasm`, run `_initialize` if present, call `export(0)`; the response is buffered."""
    resp = Response()
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = bytearray(request.body)
    linker = wasmtime.Linker(_ENGINE)
    linker.define_wasi()

    def mem(caller: wasmtime.Caller) -> wasmtime.Memory:
        memory = caller["memory"]
        assert isinstance(memory, wasmtime.Memory)
        return memory

    def put_u32(caller: wasmtime.Caller, ptr: int, value: int) -> None:
        mem(caller).write(caller, struct.pack("<I", value), ptr)

    def text(caller: wasmtime.Caller, ptr: int, n: int) -> str:
        return bytes(mem(caller).read(caller, ptr, ptr + n)).decode()

    def define(name: str, nparams: int, fn: Callable[..., Any], result: bool = True) -> None:
        ty = wasmtime.FuncType([I32] * nparams, [I32] if result else [])
        linker.define_func("taubyte/sdk", name, ty, fn, access_caller=True)

    def value_pair(name: str, value: Callable[[], bytes]) -> None:
        def size(caller: wasmtime.Caller, ev: int, ptr: int) -> int:
            put_u32(caller, ptr, len(value()))
            return 0

        def data(caller: wasmtime.Caller, ev: int, ptr: int, n: int) -> int:
            if n != len(value()):
                return 2
            mem(caller).write(caller, value(), ptr)
            return 0

        define(f"{name}Size", 2, size)
        define(name, 3, data)

    def keyed_pair(size_name: str, data_name: str, lookup: Callable[[str], bytes]) -> None:
        def size(caller: wasmtime.Caller, ev: int, ptr: int, kp: int, kn: int) -> int:
            put_u32(caller, ptr, len(lookup(text(caller, kp, kn))))
            return 0

        def data(caller: wasmtime.Caller, ev: int, kp: int, kn: int, ptr: int, n: int) -> int:
            mem(caller).write(caller, lookup(text(caller, kp, kn))[:n], ptr)
            return 0

        define(size_name, 4, size)
        define(data_name, 5, data)

    define("getEventType", 2, lambda caller, ev, ptr: put_u32(caller, ptr, 1), result=False)
    value_pair("getHttpEventMethod", lambda: request.method.encode())
    value_pair("getHttpEventHost", lambda: request.host.encode())
    value_pair("getHttpEventPath", lambda: request.path.encode())
    value_pair("getHttpEventUserAgent", lambda: headers.get("user-agent", "").encode())
    keyed_pair(
        "getHttpEventHeadersSize", "getHttpEventHeaders", lambda k: headers.get(k.lower(), "").encode()
    )
    keyed_pair(
        "getHttpEventQueryValueByNameSize",
        "getHttpEventQueryValueByName",
        lambda k: request.query.get(k, "").encode(),
    )

    def read_body(caller: wasmtime.Caller, ev: int, ptr: int, n: int, count_ptr: int) -> int:
        chunk = bytes(body[:n])
        del body[:n]
        mem(caller).write(caller, chunk, ptr)
        put_u32(caller, count_ptr, len(chunk))
        return EOF_ERRNO if not body else 0

    def header_add(caller: wasmtime.Caller, ev: int, kp: int, kn: int, vp: int, vn: int) -> int:
        resp.headers.append((text(caller, kp, kn), text(caller, vp, vn)))
        return 0

    def ret_code(caller: wasmtime.Caller, ev: int, code: int) -> int:
        if not 100 <= code <= 999:
            return 5
        if resp.status is None:
            resp.status = code
        return 0

    def write(caller: wasmtime.Caller, ev: int, ptr: int, n: int, n_ptr: int) -> int:
        resp.body += mem(caller).read(caller, ptr, ptr + n)
        put_u32(caller, n_ptr, n)
        return 0

    define("readHttpEventBody", 4, read_body)
    define("closeHttpEventBody", 1, lambda caller, ev: 0)
    define("eventHttpHeaderAdd", 5, header_add)
    define("eventHttpRetCode", 2, ret_code)
    define("eventHttpWrite", 4, write)
    module = wasmtime.Module.from_file(_ENGINE, str(wasm))
    linker.define_unknown_imports_as_traps(module)
    store = wasmtime.Store(_ENGINE)
    store.set_wasi(wasmtime.WasiConfig())
    instance = linker.instantiate(store, module)
    exports = instance.exports(store)
    if "_initialize" in exports:
        init = exports["_initialize"]
        assert isinstance(init, wasmtime.Func)
        init(store)
    func = exports[export]
    assert isinstance(func, wasmtime.Func)
    func(store, 0)
    if resp.status is None:
        resp.status = 200
    return resp
