"""Host functions of the `taubyte/sdk` globals family (go-sdk `globals/u32`, `str`, ...).

    getGlobalValueSize(namePtr, nameLen, application, function, sizePtr)          → errno  29 when absent
    getOrCreateGlobalValueSize(namePtr, nameLen, application, function, sizePtr)  → errno  creates it empty
    getGlobalValue(namePtr, nameLen, application, function, bufPtr)               → errno  23 when absent
    putGlobalValue(namePtr, nameLen, application, function, bufPtr, len, cap)     → errno  29 when refused

Every project has one globals keyspace; `application` and `function` (1 = yes) choose the scope a name
lives in, as upstream: the value is kept at `/<application id>/<function id>/<name>`, `/<application
id>/<name>`, `/<function id>/<name>` or `/<name>`. The call's `DataScope` (see `database`) reaches it.
The errno values are upstream's, quirks included (a refused put is 29, a missing value's data call 23).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.database import (
    DATABASE_CREATE_FAILED,
    DATABASE_GET_FAILED,
    DATABASE_KEY_NOT_FOUND,
    DATABASE_PUT_FAILED,
    DataScope,
    Keyspace,
    call_input,
    scope_of,
    worker_only,
)
from dream.wasm.event import clean_path
from dream.wasm.guest_memory import Guest


def _open(
    caller: Any, name_ptr: int, name_len: int, application: int, function: int
) -> tuple[Guest | None, DataScope | None, Keyspace | None, str, int]:
    """(guest memory, scope, the globals keyspace, the value's key, errno) of a globals call."""
    e, g, name = call_input(caller, name_ptr, name_len)
    if e is None or g is None:
        return None, None, None, "", DATABASE_CREATE_FAILED
    if name is None:
        return g, None, None, "", errno.ADDRESS_OUT_OF_MEMORY
    scope = scope_of(e)
    space = scope.open_globals() if scope is not None else None
    if scope is None or space is None:
        return g, None, None, "", DATABASE_CREATE_FAILED
    prefix = scope.globals_prefix(application == 1, function == 1)
    key = clean_path(prefix + "/" + name.decode(errors="replace"))  # Go's path.Join
    return g, scope, space, key, errno.NONE


def _size(
    caller: Any, name_ptr: int, name_len: int, application: int, function: int, size_ptr: int, *, create: bool
) -> int:
    """The size of a value; one that does not exist is created empty with `create`, else errno 29."""
    g, scope, space, key, code = _open(caller, name_ptr, name_len, application, function)
    if code or g is None or scope is None or space is None:
        return code
    value = scope.get(space, key)
    if value is None:
        if not create:
            return DATABASE_KEY_NOT_FOUND
        if scope.put(space, key, b""):
            return DATABASE_PUT_FAILED
        value = b""
    return errno.NONE if g.put_u32(size_ptr, len(value)) else errno.MEMORY_WRITE_FAILED


def value_size(
    caller: Any, name_ptr: int, name_len: int, application: int, function: int, size_ptr: int
) -> int:
    return _size(caller, name_ptr, name_len, application, function, size_ptr, create=False)


def value_size_or_create(
    caller: Any, name_ptr: int, name_len: int, application: int, function: int, size_ptr: int
) -> int:
    return _size(caller, name_ptr, name_len, application, function, size_ptr, create=True)


def value(caller: Any, name_ptr: int, name_len: int, application: int, function: int, buf_ptr: int) -> int:
    g, scope, space, key, code = _open(caller, name_ptr, name_len, application, function)
    if code or g is None or scope is None or space is None:
        return code
    found = scope.get(space, key)
    if found is None:
        return DATABASE_GET_FAILED
    return errno.NONE if g.write(buf_ptr, found) else errno.ADDRESS_OUT_OF_MEMORY


def put(
    caller: Any,
    name_ptr: int,
    name_len: int,
    application: int,
    function: int,
    buf_ptr: int,
    buf_len: int,
    _cap: int,
) -> int:
    g, scope, space, key, code = _open(caller, name_ptr, name_len, application, function)
    if code or g is None or scope is None or space is None:
        return code
    data = g.read(buf_ptr, buf_len)
    if data is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    return DATABASE_KEY_NOT_FOUND if scope.put(space, key, data) else errno.NONE


_I32 = "i32"

_TABLE: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = [
    ("getGlobalValueSize", (_I32,) * 5, value_size),
    ("getOrCreateGlobalValueSize", (_I32,) * 5, value_size_or_create),
    ("getGlobalValue", (_I32,) * 5, value),
    ("putGlobalValue", (_I32,) * 7, put),
]

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    """Define the globals family in `linker` (see `abi.define`)."""
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, params, True, worker_only(fn, DATABASE_GET_FAILED), takes_caller=True)
