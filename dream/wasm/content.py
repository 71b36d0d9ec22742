"""Host functions of the `taubyte/sdk` storage content family (go-sdk `storage.Create`, `storage.Open`):
content addressed by CID, outside any storage.

    storageNewContent(idPtr)                          → errno   a new, empty content to write
    storageOpenCid(idPtr, cidPtr)                     → errno   19 a bad CID, 100 when no hoarder has it
    contentWriteFile(id, buf, len, nPtr)              → errno   95 when it cannot be written (closed, too big)
    contentReadFile(id, buf, len, countPtr)           → errno   8 (EOF) once nothing is left
    contentSeekFile(id, i64 offset, whence, offPtr)   → errno   98 whence not 0-2, 99 a position before 0
    contentFileCid(id, cidPtr)                        → errno   the CID it was opened by (19 for new content)
    contentPushFile(id, cidPtr)                       → errno   keeps it in hoarder: its CID; 31 on failure
    contentCloseFile(id)                              → errno   (96 for an id never handed out)

CIDs cross as their binary form in a 64-byte buffer, as the SDK's codec writes them. A content is a
temporary file of this call, on disk from its first byte (beside the substrate's storage files): writes
go to it as they come, reads and seeks read it, and a push sends it to hoarder in pieces, so a content of
any size up to `CONTENT_MAX` bytes is never held in memory. It is gone when the call ends (pushed or not).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.database import DataScope, call_input, scope_of, worker_only
from dream.wasm.guest_memory import guest
from dream.wasm.storage import ADD_FILE_FAILED, CID_SIZE, CLOSE_FILE_FAILED, cid_bytes

INVALID_CID = 19
WRITING_FILE = 95
CONTENT_NOT_FOUND = 96
INVALID_WHENCE = 98
SEEKING_FILE = 99
CID_NOT_FOUND = 100
CONTENT_MAX = 64 * 1024 * 1024  # bytes a content may hold (a write past it fails with 95)
OPEN_CHUNK = 1 << 20  # bytes copied at a time when content is opened by CID


class _Content:
    __slots__ = ("cid", "closed", "file")

    def __init__(self, cid: str | None, directory: Path) -> None:
        self.cid = cid
        self.closed = False
        directory.mkdir(parents=True, exist_ok=True)
        # Open for the rest of the call (closed, and removed, by contentCloseFile or when the call ends).
        self.file: Any = tempfile.NamedTemporaryFile(dir=directory, prefix=".content-", suffix=".tmp")  # noqa: SIM115

    def close(self) -> None:
        self.closed = True
        self.file.close()


def cid_text(raw: bytes) -> str | None:
    """The text (`b…`, base32) of the binary CIDv1 at the start of `raw`, None when it holds none."""

    def varint(at: int) -> tuple[int, int]:
        value, shift = 0, 0
        while at < len(raw):
            byte = raw[at]
            value |= (byte & 0x7F) << shift
            at += 1
            if not byte & 0x80:
                return value, at
            shift += 7
        raise ValueError("truncated")

    try:
        version, at = varint(0)
        _codec, at = varint(at)
        _hash, at = varint(at)
        length, at = varint(at)
    except ValueError:
        return None
    if version != 1 or length == 0 or at + length > len(raw):
        return None
    return "b" + base64.b32encode(raw[: at + length]).decode().lower().rstrip("=")


def _directory(e: Any) -> Path:
    """Where the call's contents are written: the substrate's, else the system's temporary folder."""
    scope: DataScope | None = e.data
    return scope.content_directory() if scope is not None else Path(tempfile.gettempdir())


def _new_id(e: Any, content: _Content) -> int:
    if e.handles is None:
        e.handles = {}
    content_id = max(e.handles, default=0) + 1
    e.handles[content_id] = content
    return content_id


def _content(content_id: int) -> tuple[Any, _Content | None]:
    e = abi.current()
    found = e.handles.get(content_id) if e is not None and e.handles else None
    return e, found if isinstance(found, _Content) else None


def new_content(caller: Any, id_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return 94  # ErrorCreatingNewFile
    try:
        content = _Content(None, _directory(e))
    except OSError:
        return 94  # ErrorCreatingNewFile
    content_id = _new_id(e, content)
    return errno.NONE if guest(caller, e).put_u32(id_ptr, content_id) else errno.MEMORY_WRITE_FAILED


def open_cid(caller: Any, id_ptr: int, cid_ptr: int) -> int:
    e, g, raw = call_input(caller, cid_ptr, CID_SIZE)
    if e is None or g is None:
        return CID_NOT_FOUND
    if raw is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    cid = cid_text(raw)
    if cid is None:
        return INVALID_CID
    scope = scope_of(e)
    source = scope.open_cid(cid) if scope is not None else None
    if source is None:
        return CID_NOT_FOUND
    with source:
        try:
            content = _Content(cid, _directory(e))
        except OSError:
            return CID_NOT_FOUND
        try:
            shutil.copyfileobj(source, content.file, OPEN_CHUNK)
        except OSError:
            content.close()
            return CID_NOT_FOUND
    content.file.seek(0)
    content_id = _new_id(e, content)
    return errno.NONE if g.put_u32(id_ptr, content_id) else errno.MEMORY_WRITE_FAILED


def write(caller: Any, content_id: int, buf: int, size: int, n_ptr: int) -> int:
    e, content = _content(content_id)
    if e is None or content is None:
        return CONTENT_NOT_FOUND
    g = guest(caller, e)
    data = g.read(buf, size)
    if data is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    if content.closed or content.file.tell() + len(data) > CONTENT_MAX:
        return WRITING_FILE
    try:
        content.file.write(data)
    except OSError:  # the disk is full
        return WRITING_FILE
    return errno.NONE if g.put_u32(n_ptr, len(data)) else errno.MEMORY_WRITE_FAILED


def read(caller: Any, content_id: int, buf: int, size: int, count_ptr: int) -> int:
    e, content = _content(content_id)
    if e is None or content is None:
        return CONTENT_NOT_FOUND
    if content.closed:
        return 97  # ErrorReadingFile
    g = guest(caller, e)
    size &= 0xFFFFFFFF
    if not g.fits(buf, size):
        return errno.ADDRESS_OUT_OF_MEMORY
    chunk = content.file.read(size)
    g.write(buf, chunk)
    if not g.put_u32(count_ptr, len(chunk)):
        return errno.ADDRESS_OUT_OF_MEMORY
    return errno.EOF if not chunk and size else errno.NONE


def seek(caller: Any, content_id: int, offset: int, whence: int, offset_ptr: int) -> int:
    e, content = _content(content_id)
    if e is None or content is None:
        return CONTENT_NOT_FOUND
    if not 0 <= whence <= 2:
        return INVALID_WHENCE
    if content.closed:
        return SEEKING_FILE
    base = 0 if whence == 0 else content.file.tell()
    if whence == 2:
        base = content.file.seek(0, 2)
    if base + offset < 0:
        return SEEKING_FILE
    position = content.file.seek(base + offset)
    return errno.NONE if guest(caller, e).put_u32(offset_ptr, position) else errno.MEMORY_WRITE_FAILED


def file_cid(caller: Any, content_id: int, cid_ptr: int) -> int:
    e, content = _content(content_id)
    if e is None or content is None:
        return CONTENT_NOT_FOUND
    if content.cid is None:
        return INVALID_CID  # new content has no CID until it is pushed (as upstream)
    return (
        errno.NONE if guest(caller, e).write(cid_ptr, cid_bytes(content.cid)) else errno.ADDRESS_OUT_OF_MEMORY
    )


def push(caller: Any, content_id: int, cid_ptr: int) -> int:
    e, content = _content(content_id)
    if e is None or content is None:
        return CONTENT_NOT_FOUND
    scope: DataScope | None = e.data
    if content.closed or scope is None:
        return ADD_FILE_FAILED
    content.file.flush()  # the push reads the file by its name
    cid = scope.push_content(Path(content.file.name))
    if cid is None:
        return ADD_FILE_FAILED
    return errno.NONE if guest(caller, e).write(cid_ptr, cid_bytes(cid)) else errno.ADDRESS_OUT_OF_MEMORY


def close(caller: Any, content_id: int) -> int:
    _, content = _content(content_id)
    if content is None:
        return CONTENT_NOT_FOUND
    if content.closed:
        return CLOSE_FILE_FAILED
    content.close()
    return errno.NONE


_I32, _I64 = "i32", "i64"

_TABLE: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = [
    ("storageNewContent", (_I32,), new_content),
    ("storageOpenCid", (_I32,) * 2, open_cid),
    ("contentWriteFile", (_I32,) * 4, write),
    ("contentReadFile", (_I32,) * 4, read),
    ("contentSeekFile", (_I32, _I64, _I32, _I32), seek),
    ("contentFileCid", (_I32,) * 2, file_cid),
    ("contentPushFile", (_I32,) * 2, push),
    ("contentCloseFile", (_I32,), close),
]

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    """Define the content family in `linker` (see `abi.define`)."""
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, params, True, worker_only(fn, CID_NOT_FOUND), takes_caller=True)


def release(handles: dict[int, object]) -> None:
    """Drop the contents a call made (their temporary files), when the call ends."""
    for handle in handles.values():
        if isinstance(handle, _Content) and not handle.closed:
            handle.close()
