"""Host functions of the `taubyte/sdk` HTTP event family and the `env` helpers (see docs/functions.md).

All parameters are i32 (pointers are u32 offsets into the guest's exported `memory`) except
`env._sleep(i64)`. Results are an i32 errno (see `errno`) except `getEventType`, `_ready`, `_sleep`,
`_log`. Values follow the size-then-data pattern: `xSize(ev, sizePtr)` then `x(ev, buf, bufSize)`.

Host functions find the current call's `HttpEvent` through a thread-local: the guest runs on the thread
that called `FunctionModule.call`, and several calls may run at once on different threads.
`hostcall.define` makes them total: an unexpected exception is logged and becomes errno 5.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import errno, hostcall, interrupt
from dream.wasm.event import HttpEvent
from dream.wasm.guest_memory import guest

SDK = "taubyte/sdk"
ENV = "env"
WASI = "wasi_snapshot_preview1"
HOST_MODULES = frozenset({SDK, ENV, WASI})

log = logging.getLogger("dream.wasm")
guest_log = logging.getLogger("dream.wasm.guest")

_current = threading.local()
_current.event = None


def bind(event: HttpEvent | None) -> None:
    """Make `event` the event host functions on this thread see (None to clear)."""
    _current.event = event


def current() -> HttpEvent | None:
    """The event of the call running on this thread (None between calls): for host families that
    take no event id (databases, ...)."""
    event: HttpEvent | None = _current.event
    return event


def _event(ev: int) -> HttpEvent | None:
    # One event per instance and per call, with id 0 (instances are never reused across requests).
    # Every thread that calls wasm binds first, so `event` is set (None between calls).
    return _current.event if ev == 0 else None


# -- request values (size-then-data) --------------------------------------------------------------


def _size(caller: Any, ev: int, size_ptr: int, value: Callable[[HttpEvent], bytes]) -> int:
    e = _event(ev)
    if e is None:
        return errno.EVENT_NOT_FOUND
    if not guest(caller, e).put_u32(size_ptr, len(value(e))):
        return errno.MEMORY_WRITE_FAILED
    return errno.NONE


def _data(
    caller: Any,
    ev: int,
    buf: int,
    buf_size: int,
    value: Callable[[HttpEvent], bytes],
    *,
    exact: bool = False,
) -> int:
    e = _event(ev)
    if e is None:
        return errno.EVENT_NOT_FOUND
    data = value(e)
    buf_size &= 0xFFFFFFFF
    # tau's getHttpEventMethod insists on an exact size; for the others a bigger buffer is fine.
    if (exact and buf_size != len(data)) or buf_size < len(data):
        return errno.BUFFER_TOO_SMALL
    if not guest(caller, e).write(buf, data):
        return errno.ADDRESS_OUT_OF_MEMORY
    return errno.NONE


def _method(e: HttpEvent) -> bytes:
    return e.method


def _host(e: HttpEvent) -> bytes:
    return e.host


def _path(e: HttpEvent) -> bytes:
    return e.path


def _agent(e: HttpEvent) -> bytes:
    return e.header("User-Agent")


def _header_keys(e: HttpEvent) -> bytes:
    return e.header_keys()


def _query_keys(e: HttpEvent) -> bytes:
    return e.query_keys()


def get_event_type(caller: Any, ev: int, type_ptr: int) -> None:
    e = _current.event if ev == 0 else None  # _event, inline: every function calls this first
    if e is not None:  # unknown id: write nothing, the guest keeps its zero value
        guest(caller, e).put_u32(type_ptr, e.kind)


def method_size(caller: Any, ev: int, size_ptr: int) -> int:
    return _size(caller, ev, size_ptr, _method)


def method(caller: Any, ev: int, buf: int, buf_size: int) -> int:
    return _data(caller, ev, buf, buf_size, _method, exact=True)


def host_size(caller: Any, ev: int, size_ptr: int) -> int:
    return _size(caller, ev, size_ptr, _host)


def host(caller: Any, ev: int, buf: int, buf_size: int) -> int:
    return _data(caller, ev, buf, buf_size, _host)


def path_size(caller: Any, ev: int, size_ptr: int) -> int:
    return _size(caller, ev, size_ptr, _path)


def path(caller: Any, ev: int, buf: int, buf_size: int) -> int:
    return _data(caller, ev, buf, buf_size, _path)


def user_agent_size(caller: Any, ev: int, size_ptr: int) -> int:
    return _size(caller, ev, size_ptr, _agent)


def user_agent(caller: Any, ev: int, buf: int, buf_size: int) -> int:
    return _data(caller, ev, buf, buf_size, _agent)


def _keyed_size(caller: Any, ev: int, size_ptr: int, key_ptr: int, key_len: int, lookup: str) -> int:
    e = _event(ev)
    if e is None:
        return errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    key = g.read(key_ptr, key_len)
    if key is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    value = getattr(e, lookup)(key.decode(errors="replace"))
    return errno.NONE if g.put_u32(size_ptr, len(value)) else errno.MEMORY_WRITE_FAILED


def _keyed_data(
    caller: Any, ev: int, key_ptr: int, key_len: int, buf: int, buf_size: int, lookup: str
) -> int:
    e = _event(ev)
    if e is None:
        return errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    key = g.read(key_ptr, key_len)
    if key is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    value = getattr(e, lookup)(key.decode(errors="replace"))
    if (buf_size & 0xFFFFFFFF) < len(value):
        return errno.BUFFER_TOO_SMALL
    return errno.NONE if g.write(buf, value) else errno.ADDRESS_OUT_OF_MEMORY


def header_size(caller: Any, ev: int, size_ptr: int, key_ptr: int, key_len: int) -> int:
    return _keyed_size(caller, ev, size_ptr, key_ptr, key_len, "header")


def header(caller: Any, ev: int, key_ptr: int, key_len: int, buf: int, buf_size: int) -> int:
    return _keyed_data(caller, ev, key_ptr, key_len, buf, buf_size, "header")


def query_size(caller: Any, ev: int, size_ptr: int, key_ptr: int, key_len: int) -> int:
    return _keyed_size(caller, ev, size_ptr, key_ptr, key_len, "query")


def query(caller: Any, ev: int, key_ptr: int, key_len: int, buf: int, buf_size: int) -> int:
    return _keyed_data(caller, ev, key_ptr, key_len, buf, buf_size, "query")


def _list_data(caller: Any, ev: int, buf: int, value: Callable[[HttpEvent], bytes]) -> int:
    # The list calls carry no usable size (Go passes none; tau ignores Rust's third argument), so the
    # guest must have sized `buf` with the matching *Size call; only the bounds are checked.
    e = _event(ev)
    if e is None:
        return errno.EVENT_NOT_FOUND
    return errno.NONE if guest(caller, e).write(buf, value(e)) else errno.ADDRESS_OUT_OF_MEMORY


def header_keys_size(caller: Any, ev: int, size_ptr: int) -> int:
    return _size(caller, ev, size_ptr, _header_keys)


def header_keys(caller: Any, ev: int, buf: int, _ignored: int) -> int:
    return _list_data(caller, ev, buf, _header_keys)


def header_keys_go(caller: Any, ev: int, buf: int) -> int:
    return _list_data(caller, ev, buf, _header_keys)


def query_keys_size(caller: Any, ev: int, size_ptr: int) -> int:
    return _size(caller, ev, size_ptr, _query_keys)


def query_keys(caller: Any, ev: int, buf: int) -> int:
    return _list_data(caller, ev, buf, _query_keys)


def read_body(caller: Any, ev: int, buf: int, buf_size: int, count_ptr: int) -> int:
    e = _event(ev)
    if e is None:
        return errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    buf_size &= 0xFFFFFFFF
    if not g.fits(buf, buf_size):
        return errno.ADDRESS_OUT_OF_MEMORY
    chunk, code = e.read_body(buf_size)
    g.write(buf, chunk)
    if not g.put_u32(count_ptr, len(chunk)):
        return errno.MEMORY_WRITE_FAILED
    return code


def close_body(caller: Any, ev: int) -> int:
    e = _event(ev)
    return errno.EVENT_NOT_FOUND if e is None else e.close_body()


# -- response ---------------------------------------------------------------------------------------


def header_add(caller: Any, ev: int, key_ptr: int, key_len: int, val_ptr: int, val_len: int) -> int:
    e = _event(ev)
    if e is None:
        return errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    key, value = g.read(key_ptr, key_len), g.read(val_ptr, val_len)
    if key is None or value is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    # Names and values are checked as Go's net/http writes them (event.check_header): 5 when dropped.
    return e.add_header(key.decode(errors="replace"), value.decode(errors="replace"))


def ret_code(caller: Any, ev: int, code: int) -> int:
    e = _current.event if ev == 0 else None  # _event, inline: on every request's path
    return errno.EVENT_NOT_FOUND if e is None else e.ret_code(code)


def write(caller: Any, ev: int, buf: int, buf_size: int, n_ptr: int) -> int:
    e = _current.event if ev == 0 else None  # _event, inline: on every request's path
    if e is None:
        return errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    data = g.read(buf, buf_size)
    if data is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    e.write(data)
    return errno.NONE if g.put_u32(n_ptr, len(data)) else errno.MEMORY_WRITE_FAILED


def flush(caller: Any, ev: int) -> int:
    # The response is buffered until the export returns, so a flush has nothing to do but succeeds.
    return errno.EVENT_NOT_FOUND if _event(ev) is None else errno.NONE


def redirect(caller: Any, ev: int, url_ptr: int, url_len: int, code: int) -> int:
    e = _event(ev)
    if e is None:
        return errno.EVENT_NOT_FOUND
    url = guest(caller, e).read(url_ptr, url_len)
    if url is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    return e.redirect(url.decode(errors="replace"), code)


# -- env --------------------------------------------------------------------------------------------


def ready() -> None:
    """Command modules call `_ready` from main; `_start` runs synchronously here, so nothing to wait for."""


def sleep(ns: int) -> None:
    e = getattr(_current, "event", None)
    seconds = max(0, ns) / 1e9
    if e is not None:
        # Never sleep past the call's deadline: the epoch interrupt fires once the guest resumes.
        seconds = min(seconds, e.remaining())
    if seconds > 0:
        interrupt.wait(seconds)  # a cancelled call stops waiting at once


def guest_print(caller: Any, ptr: int, n: int) -> None:
    e = getattr(_current, "event", None)
    if e is None:
        return
    data = guest(caller, e).read(ptr, n)
    if data is not None:
        guest_log.info("%s: %s", e.label, data.decode(errors="replace").rstrip("\n"))


# -- registration -----------------------------------------------------------------------------------

_I32 = "i32"

# (module, import name, param kinds, has errno result, implementation, takes caller)
_TABLE: list[tuple[str, str, tuple[str, ...], bool, Callable[..., Any], bool]] = [
    (SDK, "getEventType", (_I32,) * 2, False, get_event_type, True),
    (SDK, "getHttpEventMethodSize", (_I32,) * 2, True, method_size, True),
    (SDK, "getHttpEventMethod", (_I32,) * 3, True, method, True),
    (SDK, "getHttpEventHostSize", (_I32,) * 2, True, host_size, True),
    (SDK, "getHttpEventHost", (_I32,) * 3, True, host, True),
    (SDK, "getHttpEventPathSize", (_I32,) * 2, True, path_size, True),
    (SDK, "getHttpEventPath", (_I32,) * 3, True, path, True),
    (SDK, "getHttpEventUserAgentSize", (_I32,) * 2, True, user_agent_size, True),
    (SDK, "getHttpEventUserAgent", (_I32,) * 3, True, user_agent, True),
    (SDK, "getHttpEventHeadersSize", (_I32,) * 4, True, header_size, True),
    (SDK, "getHttpEventHeaders", (_I32,) * 5, True, header, True),
    (SDK, "getHttpEventRequestHeaderKeysSize", (_I32,) * 2, True, header_keys_size, True),
    (SDK, "getHttpEventRequestHeaderKeys", (_I32,) * 3, True, header_keys, True),
    # The Go SDK's older names for the same list (getHttpEventHeaderVarNameById[Size]).
    (SDK, "getHttpEventHeaderVarNameByIdSize", (_I32,) * 2, True, header_keys_size, True),
    (SDK, "getHttpEventHeaderVarNameById", (_I32,) * 2, True, header_keys_go, True),
    (SDK, "getHttpEventQueryValueByNameSize", (_I32,) * 4, True, query_size, True),
    (SDK, "getHttpEventQueryValueByName", (_I32,) * 5, True, query, True),
    (SDK, "getHttpEventRequestQueryKeysSize", (_I32,) * 2, True, query_keys_size, True),
    (SDK, "getHttpEventRequestQueryKeys", (_I32,) * 2, True, query_keys, True),
    (SDK, "readHttpEventBody", (_I32,) * 4, True, read_body, True),
    (SDK, "closeHttpEventBody", (_I32,), True, close_body, True),
    (SDK, "eventHttpHeaderAdd", (_I32,) * 5, True, header_add, True),
    (SDK, "eventHttpRetCode", (_I32,) * 2, True, ret_code, True),
    (SDK, "eventHttpWrite", (_I32,) * 4, True, write, True),
    (SDK, "eventHttpFlush", (_I32,), True, flush, True),
    (SDK, "eventHttpRedirect", (_I32,) * 4, True, redirect, True),
    (ENV, "_ready", (), False, ready, False),
    (ENV, "_sleep", ("i64",), False, sleep, False),
    (ENV, "_log", (_I32,) * 2, False, guest_print, True),
]

# Host functions that can make the calling thread wait.
BLOCKING: frozenset[tuple[str, str]] = frozenset({(ENV, "_sleep"), (WASI, "poll_oneoff")})

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((m, n) for m, n, *_ in _TABLE)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    """Define every implemented host function in `linker` (store-independent, so shareable), each with
    `define` (the host's call path's `CallPath.define`)."""
    for module, name, params, has_result, fn, takes_caller in _TABLE:
        define(linker, module, name, params, has_result, fn, takes_caller=takes_caller)
