"""Host functions of the `taubyte/sdk` key/value database family (go-sdk `database`).

    newDatabase(namePtr, nameLen, idPtr)                 → errno   22 when no database matches the name
    databaseGetSize(id, keyPtr, keyLen, sizePtr)         → errno   29 when the key does not exist
    databaseGet(id, keyPtr, keyLen, bufPtr)              → errno
    databasePut(id, keyPtr, keyLen, bufPtr, bufLen)      → errno   24 when refused (e.g. past the size)
    databaseDelete(id, keyPtr, keyLen)                   → errno   (deleting a missing key is no error)
    databaseListSize(id, prefixPtr, prefixLen, sizePtr)  → errno
    databaseList(id, prefixPtr, prefixLen, bufPtr)       → errno   keys with the prefix, each + 0x00
    databaseClose(id)                                    → errno   25 for an id this call never opened

The wasm host knows nothing of tns or hoarder: a call of a function that imports this family gets its
`DataScope` (the substrate's, see `dream.substrate.data`), which resolves names and reads and writes
keyspaces. Reads from a keyspace the substrate holds need no wait, so such functions may run inline on
the event loop; a call there that would have to wait is given up and rerun on a worker (`NeedsWorker`). The data call after a size call hands over the very value (or list) the size was taken of,
so a write landing between the two can never make the host write past the guest's buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.event import HttpEvent
from dream.wasm.guest_memory import Guest, guest

# go-sdk errno/types.go declaration order
DATABASE_CREATE_FAILED = 22
DATABASE_GET_FAILED = 23
DATABASE_PUT_FAILED = 24
DATABASE_NOT_FOUND = 25
DATABASE_DELETE_FAILED = 26
DATABASE_LIST_FAILED = 27
DATABASE_KEY_NOT_FOUND = 29


class NeedsWorker(Exception):
    """Raised by a `DataScope` method that would have to wait while the call runs on a server's event
    loop: the host call fails (its errno), and the call is given up and run again on a worker thread
    (`WasmNeedsWorker`). Nothing was changed: writes always wait, so none is made inline."""


def worker_only(fn: Callable[..., int], failed: int) -> Callable[..., int]:
    """`fn` (a data host function), failing with `failed` and marking its call to be rerun on a worker
    thread when its scope raises NeedsWorker."""

    def host_function(*args: Any) -> int:
        try:
            return fn(*args)
        except NeedsWorker:
            e = abi.current()
            if e is not None:
                e.needs_worker = True
            return failed

    return host_function


class Keyspace(Protocol):
    """One opened database (a matched name of the function's project), as a `DataScope` hands it out."""

    name: str
    limit: int  # its size: bytes of keys and values (databases), of files (storages)


class DataScope(Protocol):
    """What the data host calls of one function reach. Methods may block (they run on worker threads)
    and report failures as errno values, having logged why."""

    def open_database(self, name: str) -> Keyspace | None:
        """The keyspace `name` resolves to, None (logged) when no database of the project matches."""

    def get(self, space: Keyspace, key: str) -> bytes | None:
        """The value at `key`, None when there is none."""

    def put(self, space: Keyspace, key: str, value: bytes) -> int:
        """Store `value` at `key`: 0 once durable, else an errno (logged)."""

    def delete(self, space: Keyspace, key: str) -> int:
        """Remove `key`: 0 once durable, else an errno (logged)."""

    def keys(self, space: Keyspace, prefix: str) -> list[str] | None:
        """The keys starting with `prefix`, sorted; None (logged) when they cannot be listed."""

    def open_globals(self) -> Keyspace | None:
        """The project's keyspace of `globals` values, None (logged) when it cannot be read."""

    def globals_prefix(self, application: bool, function: bool) -> str:
        """Where values of a scope live in it: `/`, `/<application id>`, `/<function id>` or both."""

    def open_storage(self, name: str) -> Keyspace | None:
        """The storage `name` resolves to (its keyspace of file metadata), None (logged) when none matches."""

    def add_file(
        self, space: Keyspace, name: str, data: bytes | memoryview, overwrite: bool
    ) -> tuple[int, int]:
        """Keep `data` as a version of file `name`: (0, its version) once durable, else (errno, 0) (logged).
        `data` may be a view of the guest's memory, valid only during the call."""

    def delete_file(self, space: Keyspace, name: str, version: int) -> int:
        """Forget a version of file `name` (0: the latest, -1: all): 0, else an errno (logged)."""

    def open_file(self, space: Keyspace, cid: str) -> BinaryIO | None:
        """The bytes stored as `cid`, to read from the start; None (logged) when they cannot be had."""

    def open_cid(self, cid: str) -> BinaryIO | None:
        """The bytes hoarder keeps as `cid` (content, outside any storage); None when it has none."""

    def content_directory(self) -> Path:
        """Where the contents a function writes are kept while it writes them (on disk, not in memory)."""

    def push_content(self, source: Path) -> str | None:
        """Keep the bytes of the file `source` in hoarder (sent in pieces): their CID, None (logged) when
        that failed."""


class _Open:
    """A database this call opened, with the value or list its last size call measured."""

    __slots__ = ("pending", "space")

    def __init__(self, space: Keyspace) -> None:
        self.space = space
        self.pending: tuple[str, bytes] | None = None  # (what was asked, the bytes measured)


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace")


def _opened(e: HttpEvent, db_id: int) -> _Open | None:
    found = e.handles.get(db_id) if e.handles else None
    return found if isinstance(found, _Open) else None


def call_input(caller: Any, ptr: int, n: int) -> tuple[HttpEvent | None, Guest | None, bytes | None]:
    """The running call's event, its guest memory, and the `n` bytes at `ptr` (None where there is none:
    no call, or bytes outside the guest's memory)."""
    e = abi.current()
    if e is None:
        return None, None, None
    g = guest(caller, e)
    return e, g, g.read(ptr, n)


def scope_of(e: HttpEvent) -> DataScope | None:
    scope: DataScope | None = e.data  # type: ignore[assignment]  # set by the caller of `call`
    return scope


def new_handle(e: HttpEvent, g: Guest, handle: object, id_ptr: int) -> int:
    """Hand `handle` (an open database, storage, ...) to the guest: its id, written at `id_ptr`."""
    if e.handles is None:
        e.handles = {}
    handle_id = max(e.handles, default=0) + 1
    e.handles[handle_id] = handle
    return errno.NONE if g.put_u32(id_ptr, handle_id) else errno.MEMORY_WRITE_FAILED


def new_database(caller: Any, name_ptr: int, name_len: int, id_ptr: int) -> int:
    e, g, name = call_input(caller, name_ptr, name_len)
    if e is None or g is None:
        return DATABASE_CREATE_FAILED
    if name is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    scope = scope_of(e)
    space = scope.open_database(_text(name)) if scope is not None else None
    if space is None:
        return DATABASE_CREATE_FAILED
    return new_handle(e, g, _Open(space), id_ptr)


def _keyed(caller: Any, db_id: int, key_ptr: int, key_len: int) -> tuple[Any, _Open | None, str, int]:
    """(guest memory, the open database, the key, errno) of a call naming a key."""
    e = abi.current()
    if e is None:
        return None, None, "", DATABASE_NOT_FOUND
    opened = _opened(e, db_id)
    if opened is None:
        return None, None, "", DATABASE_NOT_FOUND
    g = guest(caller, e)
    key = g.read(key_ptr, key_len)
    if key is None:
        return g, opened, "", errno.ADDRESS_OUT_OF_MEMORY
    return g, opened, _text(key), errno.NONE


def _scope() -> DataScope:
    e = abi.current()
    assert e is not None and e.data is not None  # a database was opened through it
    scope: DataScope = e.data  # type: ignore[assignment]
    return scope


def _measure(g: Guest, opened: _Open, tag: str, value: bytes | None, size_ptr: int, missing: int) -> int:
    """A size call: the size of `value` (`missing` when None), kept for the data call that follows."""
    if value is None:
        return missing
    opened.pending = (tag, value)
    return errno.NONE if g.put_u32(size_ptr, len(value)) else errno.MEMORY_WRITE_FAILED


def _deliver(
    g: Guest, opened: _Open, tag: str, fresh: Callable[[], bytes | None], buf_ptr: int, missing: int
) -> int:
    """A data call: what the size call just before measured (so a write in between cannot overflow the
    guest's buffer), else read afresh (no size call first: the buffer's size is unknown, as upstream's)."""
    pending, opened.pending = opened.pending, None
    value = pending[1] if pending is not None and pending[0] == tag else fresh()
    if value is None:
        return missing
    return errno.NONE if g.write(buf_ptr, value) else errno.ADDRESS_OUT_OF_MEMORY


def get_size(caller: Any, db_id: int, key_ptr: int, key_len: int, size_ptr: int) -> int:
    g, opened, key, code = _keyed(caller, db_id, key_ptr, key_len)
    if opened is None or code:
        return code
    value = _scope().get(opened.space, key)
    return _measure(g, opened, "get\0" + key, value, size_ptr, DATABASE_KEY_NOT_FOUND)


def get(caller: Any, db_id: int, key_ptr: int, key_len: int, buf_ptr: int) -> int:
    g, opened, key, code = _keyed(caller, db_id, key_ptr, key_len)
    if opened is None or code:
        return code
    space = opened.space
    return _deliver(
        g, opened, "get\0" + key, lambda: _scope().get(space, key), buf_ptr, DATABASE_KEY_NOT_FOUND
    )


def put(caller: Any, db_id: int, key_ptr: int, key_len: int, buf_ptr: int, buf_len: int) -> int:
    g, opened, key, code = _keyed(caller, db_id, key_ptr, key_len)
    if opened is None or code:
        return code
    value = g.read(buf_ptr, buf_len)
    if value is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    return _scope().put(opened.space, key, value)


def delete(caller: Any, db_id: int, key_ptr: int, key_len: int) -> int:
    _, opened, key, code = _keyed(caller, db_id, key_ptr, key_len)
    if opened is None or code:
        return code
    return _scope().delete(opened.space, key)


def _nul_list(keys: list[str]) -> bytes:
    return b"".join(k.encode() + b"\0" for k in keys)


def _listed(space: Keyspace, prefix: str) -> bytes | None:
    keys = _scope().keys(space, prefix)
    return None if keys is None else _nul_list(keys)


def list_size(caller: Any, db_id: int, prefix_ptr: int, prefix_len: int, size_ptr: int) -> int:
    g, opened, prefix, code = _keyed(caller, db_id, prefix_ptr, prefix_len)
    if opened is None or code:
        return code
    listed = _listed(opened.space, prefix)
    return _measure(g, opened, "list\0" + prefix, listed, size_ptr, DATABASE_LIST_FAILED)


def list_keys(caller: Any, db_id: int, prefix_ptr: int, prefix_len: int, buf_ptr: int) -> int:
    g, opened, prefix, code = _keyed(caller, db_id, prefix_ptr, prefix_len)
    if opened is None or code:
        return code
    space = opened.space
    return _deliver(
        g, opened, "list\0" + prefix, lambda: _listed(space, prefix), buf_ptr, DATABASE_LIST_FAILED
    )


def close(caller: Any, db_id: int) -> int:
    e = abi.current()
    if e is None or _opened(e, db_id) is None:
        return DATABASE_NOT_FOUND
    assert e.handles is not None
    del e.handles[db_id]
    return errno.NONE


_I32 = "i32"

_TABLE: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = [
    ("newDatabase", (_I32,) * 3, new_database),
    ("databaseGetSize", (_I32,) * 4, get_size),
    ("databaseGet", (_I32,) * 4, get),
    ("databasePut", (_I32,) * 5, put),
    ("databaseDelete", (_I32,) * 3, delete),
    ("databaseListSize", (_I32,) * 4, list_size),
    ("databaseList", (_I32,) * 4, list_keys),
    ("databaseClose", (_I32,), close),
]

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    """Define the database family in `linker` (see `abi.define`)."""
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, params, True, worker_only(fn, DATABASE_GET_FAILED), takes_caller=True)
