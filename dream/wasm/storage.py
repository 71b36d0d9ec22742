"""Host functions of the `taubyte/sdk` storage family (go-sdk `storage`): files by name, with versions.

    storageNew(namePtr, nameLen, idPtr) / storageGet(...)         → errno  22 / 92 when none matches
    storageAddFile(id, name, nameLen, versionPtr, buf, len, overwrite)                    31 refused
    storageGetFile(id, name, nameLen, version, fdPtr)             version 0: the latest;  90 none such
    storageReadFile(id, fd, buf, size, countPtr)                  8 (EOF) once nothing is left
    storageCloseFile(id, fd)                                      3 for an fd never handed out
    storageDeleteFile(id, name, nameLen, version, all)            33 refused (no such file or version)
    storageListVersionsSize / storageListVersions(id, name, nameLen, ptr)   versions, NUL-terminated; 36
    storageListFilesSize / storageListFiles(id, ptr)              `/file/<name>/<version>`, NUL-terminated
    storageCid(id, name, nameLen, cidPtr)                         the latest version's CID (binary, ≤ 64 bytes)
    storageCurrentVersionSize(id, name, nameLen, sizePtr) then storageCurrentVersion(name, nameLen, buf)
    storageUsedSize / storageUsed, storageCapacitySize / storageCapacity(id, ptr)   decimal text

A storage is a keyspace of metadata (as upstream keeps it: `/file/<name>/<version>` → CID, `/size/...`,
`/version/<name>` → the latest) read through the call's `DataScope`, with the bytes kept by CID. An
unknown storage id is errno 1, as upstream answers it (92 for storageCid).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, BinaryIO

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.database import (
    DATABASE_CREATE_FAILED,
    DataScope,
    Keyspace,
    call_input,
    new_handle,
    scope_of,
    worker_only,
)
from dream.wasm.event import HttpEvent
from dream.wasm.guest_memory import Guest, guest

# go-sdk errno/types.go declaration order
ADD_FILE_FAILED = 31
GET_FILE_FAILED = 32
DELETE_FILE_FAILED = 33
CLOSE_FILE_FAILED = 34
LIST_FILE_VERSIONS_FAILED = 36
STORAGE_GET_META_FAILED = 90
STORAGE_NOT_FOUND = 92
STORAGE_LIST_FAILED = 93
CID_SIZE = 64  # the SDK's fixed CID buffer

FILE, SIZE, VERSION = "/file/", "/size/", "/version/"
_CURRENT = (
    0  # handles slot of the versions storageCurrentVersionSize measured (storageCurrentVersion has no id)
)


class _Storage:
    """A storage this call opened, with the files it opened (closed when the call ends)."""

    __slots__ = ("files", "space")

    def __init__(self, space: Keyspace) -> None:
        self.space = space
        self.files: dict[int, BinaryIO] = {}

    def close(self) -> None:
        for file in self.files.values():
            file.close()
        self.files.clear()


def _new(caller: Any, name_ptr: int, name_len: int, id_ptr: int, *, existing: bool) -> int:
    failed = STORAGE_NOT_FOUND if existing else DATABASE_CREATE_FAILED  # upstream's codes
    e, g, name = call_input(caller, name_ptr, name_len)
    if e is None or g is None:
        return failed
    if name is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    scope = scope_of(e)
    space = scope.open_storage(name.decode(errors="replace")) if scope is not None else None
    if space is None:
        return failed
    return new_handle(e, g, _Storage(space), id_ptr)


def new(caller: Any, name_ptr: int, name_len: int, id_ptr: int) -> int:
    return _new(caller, name_ptr, name_len, id_ptr, existing=False)


def get(caller: Any, name_ptr: int, name_len: int, id_ptr: int) -> int:
    return _new(caller, name_ptr, name_len, id_ptr, existing=True)


def _opened(storage_id: int) -> tuple[HttpEvent | None, _Storage | None, DataScope | None]:
    e = abi.current()
    found = e.handles.get(storage_id) if e is not None and e.handles else None
    if e is None or not isinstance(found, _Storage):
        return e, None, None
    return e, found, scope_of(e)


def _named(caller: Any, storage_id: int, name_ptr: int, name_len: int) -> tuple[Any, Any, Any, str, int]:
    """(guest, storage, scope, file name, errno) of a call naming a file."""
    e, storage, scope = _opened(storage_id)
    if e is None or storage is None or scope is None:
        return None, None, None, "", errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    name = g.read(name_ptr, name_len)
    if name is None:
        return g, storage, scope, "", errno.ADDRESS_OUT_OF_MEMORY
    return g, storage, scope, name.decode(errors="replace"), errno.NONE


def _versions(scope: DataScope, space: Keyspace, name: str) -> list[int] | None:
    keys = scope.keys(space, f"{FILE}{name}/")
    if keys is None:
        return None
    found = (k.rsplit("/", 1)[-1] for k in keys)
    return sorted(int(v) for v in found if v.isdigit())


def _cid_of(scope: DataScope, space: Keyspace, name: str, version: int) -> str | None:
    """The CID of version `version` of `name` (0: the latest), None when there is none."""
    if version == 0:
        latest = scope.get(space, f"{VERSION}{name}")
        if not latest:
            return None
        version = int(latest)
    found = scope.get(space, f"{FILE}{name}/{version}")
    return None if found is None else found.decode()


def add_file(
    caller: Any,
    storage_id: int,
    name_ptr: int,
    name_len: int,
    version_ptr: int,
    buf: int,
    size: int,
    overwrite: int,
) -> int:
    g, storage, scope, name, code = _named(caller, storage_id, name_ptr, name_len)
    if code:
        return code
    data = g.view(buf, size)  # in place: a file of any size is not copied whole
    if data is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    code, version = scope.add_file(storage.space, name, data, overwrite == 1)
    if code:
        return code
    return errno.NONE if g.put_u32(version_ptr, version) else errno.MEMORY_WRITE_FAILED


def get_file(caller: Any, storage_id: int, name_ptr: int, name_len: int, version: int, fd_ptr: int) -> int:
    g, storage, scope, name, code = _named(caller, storage_id, name_ptr, name_len)
    if code:
        return code
    fd = max(storage.files, default=0) + 1
    if not g.put_u32(fd_ptr, fd):
        return errno.MEMORY_WRITE_FAILED
    cid = _cid_of(scope, storage.space, name, version & 0xFFFFFFFF)
    if cid is None:
        return STORAGE_GET_META_FAILED
    file = scope.open_file(storage.space, cid)
    if file is None:
        return GET_FILE_FAILED
    storage.files[fd] = file
    return errno.NONE


def read_file(caller: Any, storage_id: int, fd: int, buf: int, size: int, count_ptr: int) -> int:
    e, storage, _ = _opened(storage_id)
    if e is None or storage is None:
        return errno.EVENT_NOT_FOUND
    file = storage.files.get(fd)
    if file is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    g = guest(caller, e)
    size &= 0xFFFFFFFF
    if not g.fits(buf, size):
        return errno.ADDRESS_OUT_OF_MEMORY
    chunk = file.read(size)
    g.write(buf, chunk)
    if not g.put_u32(count_ptr, len(chunk)):
        return errno.ADDRESS_OUT_OF_MEMORY
    # Like a Go file: bytes while there are some, then 0 bytes and EOF.
    return errno.EOF if not chunk and size else errno.NONE


def close_file(caller: Any, storage_id: int, fd: int) -> int:
    e, storage, _ = _opened(storage_id)
    if e is None or storage is None:
        return errno.EVENT_NOT_FOUND
    file = storage.files.pop(fd, None)
    if file is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    file.close()
    return errno.NONE


def delete_file(caller: Any, storage_id: int, name_ptr: int, name_len: int, version: int, every: int) -> int:
    _, storage, scope, name, code = _named(caller, storage_id, name_ptr, name_len)
    if code:
        return code
    # A u32, as upstream reads it: only `all` means every version (a huge one is just not there).
    return scope.delete_file(storage.space, name, -1 if every == 1 else version & 0xFFFFFFFF)


def _nul_list(items: list[str]) -> bytes:
    return b"".join(s.encode() + b"\0" for s in items)


def _list_versions(
    caller: Any, storage_id: int, name_ptr: int, name_len: int
) -> tuple[Guest | None, bytes | None, int]:
    g, storage, scope, name, code = _named(caller, storage_id, name_ptr, name_len)
    if code:
        return None, None, code
    versions = _versions(scope, storage.space, name)
    if not versions:
        return g, None, LIST_FILE_VERSIONS_FAILED
    return g, _nul_list([str(v) for v in versions]), errno.NONE


def list_versions_size(caller: Any, storage_id: int, name_ptr: int, name_len: int, size_ptr: int) -> int:
    g, listed, code = _list_versions(caller, storage_id, name_ptr, name_len)
    if code or g is None or listed is None:
        return code
    return errno.NONE if g.put_u32(size_ptr, len(listed)) else errno.MEMORY_WRITE_FAILED


def list_versions(caller: Any, storage_id: int, name_ptr: int, name_len: int, buf: int) -> int:
    g, listed, code = _list_versions(caller, storage_id, name_ptr, name_len)
    if code or g is None or listed is None:
        return code
    return errno.NONE if g.write(buf, listed) else errno.ADDRESS_OUT_OF_MEMORY


def _files(storage_id: int) -> tuple[HttpEvent | None, bytes | None, int]:
    e, storage, scope = _opened(storage_id)
    if e is None or storage is None or scope is None:
        return None, None, errno.EVENT_NOT_FOUND
    keys = scope.keys(storage.space, FILE)
    if keys is None:
        return e, None, STORAGE_LIST_FAILED
    return e, _nul_list(keys), errno.NONE


def list_files_size(caller: Any, storage_id: int, size_ptr: int) -> int:
    e, listed, code = _files(storage_id)
    if code or e is None or listed is None:
        return code
    return errno.NONE if guest(caller, e).put_u32(size_ptr, len(listed)) else errno.MEMORY_WRITE_FAILED


def list_files(caller: Any, storage_id: int, buf: int) -> int:
    e, listed, code = _files(storage_id)
    if code or e is None or listed is None:
        return code
    return errno.NONE if guest(caller, e).write(buf, listed) else errno.ADDRESS_OUT_OF_MEMORY


def cid_bytes(cid: str) -> bytes:
    """The binary form of a base32 CIDv1 (`b…`), as the SDK's 64-byte CID buffer holds it."""
    body = cid[1:].upper()
    return base64.b32decode(body + "=" * (-len(body) % 8))


def storage_cid(caller: Any, storage_id: int, name_ptr: int, name_len: int, cid_ptr: int) -> int:
    g, storage, scope, name, code = _named(caller, storage_id, name_ptr, name_len)
    if code == errno.EVENT_NOT_FOUND:
        return STORAGE_NOT_FOUND
    if code:
        return code
    cid = _cid_of(scope, storage.space, name, 0)
    if cid is None:
        return STORAGE_GET_META_FAILED
    return errno.NONE if g.write(cid_ptr, cid_bytes(cid)) else errno.ADDRESS_OUT_OF_MEMORY


def current_version_size(caller: Any, storage_id: int, name_ptr: int, name_len: int, size_ptr: int) -> int:
    g, storage, scope, name, code = _named(caller, storage_id, name_ptr, name_len)
    if code:
        return errno.ADDRESS_OUT_OF_MEMORY  # upstream answers 3 for every failure here
    versions = _versions(scope, storage.space, name)
    if not versions:
        return LIST_FILE_VERSIONS_FAILED
    e = abi.current()
    assert e is not None and e.handles is not None
    measured = e.handles.setdefault(_CURRENT, {})
    assert isinstance(measured, dict)
    measured[name] = text = str(versions[-1]).encode()
    return errno.NONE if g.put_u32(size_ptr, len(text)) else errno.MEMORY_WRITE_FAILED


def current_version(caller: Any, name_ptr: int, name_len: int, buf: int) -> int:
    e = abi.current()
    if e is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    g = guest(caller, e)
    name = g.read(name_ptr, name_len)
    measured = e.handles.get(_CURRENT) if e.handles else None
    text = (
        measured.get(name.decode(errors="replace"))
        if isinstance(measured, dict) and name is not None
        else None
    )
    if text is None:
        return errno.ADDRESS_OUT_OF_MEMORY  # not measured by storageCurrentVersionSize first
    return errno.NONE if g.write(buf, text) else errno.ADDRESS_OUT_OF_MEMORY


def _amount(storage_id: int, what: str) -> tuple[HttpEvent | None, bytes | None, int]:
    e, storage, scope = _opened(storage_id)
    if e is None or storage is None or scope is None:
        return None, None, errno.EVENT_NOT_FOUND
    if what == "capacity":
        return e, str(storage.space.limit).encode(), errno.NONE
    sizes = scope.keys(storage.space, SIZE)
    if sizes is None:
        return e, None, 37  # ErrorListingUsedSpaceFailed
    used = sum(int(scope.get(storage.space, k) or b"0") for k in sizes)
    return e, str(used).encode(), errno.NONE


def _amount_size(caller: Any, storage_id: int, size_ptr: int, what: str) -> int:
    e, text, code = _amount(storage_id, what)
    if code or e is None or text is None:
        return code
    return errno.NONE if guest(caller, e).put_u32(size_ptr, len(text)) else errno.MEMORY_WRITE_FAILED


def _amount_data(caller: Any, storage_id: int, buf: int, what: str) -> int:
    e, text, code = _amount(storage_id, what)
    if code or e is None or text is None:
        return code
    return errno.NONE if guest(caller, e).write(buf, text) else errno.ADDRESS_OUT_OF_MEMORY


def used_size(caller: Any, storage_id: int, size_ptr: int) -> int:
    return _amount_size(caller, storage_id, size_ptr, "used")


def used(caller: Any, storage_id: int, buf: int) -> int:
    return _amount_data(caller, storage_id, buf, "used")


def capacity_size(caller: Any, storage_id: int, size_ptr: int) -> int:
    return _amount_size(caller, storage_id, size_ptr, "capacity")


def capacity(caller: Any, storage_id: int, buf: int) -> int:
    return _amount_data(caller, storage_id, buf, "capacity")


_I32 = "i32"

_TABLE: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = [
    ("storageNew", (_I32,) * 3, new),
    ("storageGet", (_I32,) * 3, get),
    ("storageAddFile", (_I32,) * 7, add_file),
    ("storageGetFile", (_I32,) * 5, get_file),
    ("storageReadFile", (_I32,) * 5, read_file),
    ("storageCloseFile", (_I32,) * 2, close_file),
    ("storageDeleteFile", (_I32,) * 5, delete_file),
    ("storageListVersionsSize", (_I32,) * 4, list_versions_size),
    ("storageListVersions", (_I32,) * 4, list_versions),
    ("storageListFilesSize", (_I32,) * 2, list_files_size),
    ("storageListFiles", (_I32,) * 2, list_files),
    ("storageCid", (_I32,) * 4, storage_cid),
    ("storageCurrentVersionSize", (_I32,) * 4, current_version_size),
    ("storageCurrentVersion", (_I32,) * 3, current_version),
    ("storageUsedSize", (_I32,) * 2, used_size),
    ("storageUsed", (_I32,) * 2, used),
    ("storageCapacitySize", (_I32,) * 2, capacity_size),
    ("storageCapacity", (_I32,) * 2, capacity),
]

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    """Define the storage family in `linker` (see `abi.define`)."""
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, params, True, worker_only(fn, errno.EVENT_NOT_FOUND), takes_caller=True)


def release(handles: dict[int, object]) -> None:
    """Close what a call left open (its storages' files), when the call ends."""
    for handle in handles.values():
        if isinstance(handle, _Storage):
            handle.close()
