"""Host functions of the `taubyte/sdk` i2mv families (memory views and fifos, go-sdk `i2mv/...`).

    memoryViewNew(bufPtr, size, isCloserPtr, idPtr)       → errno  a view of [bufPtr, bufPtr+size) of the
                                                                   guest's memory; isCloserPtr points at a
                                                                   bool byte (114 when it is not 0 or 1)
    memoryViewOpen(id, isCloserPtr, sizePtr)              → errno  111 for an unknown view
    memoryViewRead(id, offset, count, bufPtr, nPtr)       → errno  reads the region as it is now; 3 when
                                                                   offset is past its end
    memoryViewClose(id)                                   → ()
    fifoNew(readCloser)                                   → the fifo's id (no errno)
    fifoPush(id, byte)                                    → errno  115 for an unknown fifo
    fifoPop(id, bytePtr)                                  → errno  8 (EOF) when it is empty
    fifoIsCloser(id, boolPtr)                             → errno
    fifoClose(id)                                         → ()

Views and fifos live for the call that made them (dream runs each call in a fresh instance); ids count
from 1, each family on its own, as upstream's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.event import HttpEvent
from dream.wasm.guest_memory import guest

# go-sdk errno/types.go declaration order
MEMORY_VIEW_NOT_FOUND = 111
INVALID_BOOL = 114
FIFO_NOT_FOUND = 115


class _State:
    """The views and fifos of one call."""

    __slots__ = ("fifos", "next_fifo", "next_view", "views")

    def __init__(self) -> None:
        self.views: dict[int, tuple[int, int, bool]] = {}  # id → (pointer, size, closable)
        self.fifos: dict[int, tuple[deque[int], bool]] = {}  # id → (bytes, read-closer)
        self.next_view = 1
        self.next_fifo = 1


def _state(e: HttpEvent) -> _State:
    # Kept with what the call opened (`closers`), which the host drops after the call.
    for item in e.closers or ():
        if isinstance(item, _State):
            return item
    made = _State()
    if e.closers is None:
        e.closers = []
    e.closers.append(made)
    return made


def _find(table: str, item_id: int, missing: int) -> tuple[HttpEvent | None, Any, int]:
    """(event, the view or fifo `item_id` of the call, errno): the errno is `missing` when the call has
    no such item, EVENT_NOT_FOUND outside a call."""
    e = abi.current()
    if e is None:
        return None, None, errno.EVENT_NOT_FOUND
    found = getattr(_state(e), table).get(item_id)
    return e, found, (missing if found is None else errno.NONE)


def view_new(caller: Any, buf: int, size: int, closer_ptr: int, id_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    flag = g.read(closer_ptr, 1)
    if flag is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    if flag[0] > 1:
        return INVALID_BOOL
    state = _state(e)
    view_id, state.next_view = state.next_view, state.next_view + 1
    state.views[view_id] = (buf & 0xFFFFFFFF, size & 0xFFFFFFFF, flag[0] == 1)
    return errno.NONE if g.put_u32(id_ptr, view_id) else errno.MEMORY_WRITE_FAILED


def view_open(caller: Any, view_id: int, closer_ptr: int, size_ptr: int) -> int:
    e, found, code = _find("views", view_id, MEMORY_VIEW_NOT_FOUND)
    if e is None or code:
        return code
    g = guest(caller, e)
    if not g.put_u32(size_ptr, found[1]):
        return errno.MEMORY_WRITE_FAILED
    return errno.NONE if g.write(closer_ptr, bytes([found[2]])) else errno.MEMORY_WRITE_FAILED


def view_read(caller: Any, view_id: int, offset: int, count: int, buf: int, n_ptr: int) -> int:
    e, found, code = _find("views", view_id, MEMORY_VIEW_NOT_FOUND)
    if e is None or code:
        return code
    pointer, size, _ = found
    offset &= 0xFFFFFFFF
    if offset >= size:
        return errno.ADDRESS_OUT_OF_MEMORY
    count = min(count & 0xFFFFFFFF, size - offset)
    g = guest(caller, e)
    data = g.read(pointer + offset, count)
    if data is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    if not g.write(buf, data):
        return errno.ADDRESS_OUT_OF_MEMORY
    return errno.NONE if g.put_u32(n_ptr, count) else errno.MEMORY_WRITE_FAILED


def view_close(caller: Any, view_id: int) -> None:
    e = abi.current()
    if e is not None:
        _state(e).views.pop(view_id, None)


def fifo_new(caller: Any, read_closer: int) -> int:
    e = abi.current()
    if e is None:
        return 0
    state = _state(e)
    fifo_id, state.next_fifo = state.next_fifo, state.next_fifo + 1
    state.fifos[fifo_id] = (deque(), read_closer == 1)
    return fifo_id


def fifo_push(caller: Any, fifo_id: int, value: int) -> int:
    e, found, code = _find("fifos", fifo_id, FIFO_NOT_FOUND)
    if e is None or code:
        return code
    found[0].append(value & 0xFF)
    return errno.NONE


def fifo_pop(caller: Any, fifo_id: int, byte_ptr: int) -> int:
    e, found, code = _find("fifos", fifo_id, FIFO_NOT_FOUND)
    if e is None or code:
        return code
    if not found[0]:
        return errno.EOF
    value = found[0].popleft()
    return errno.NONE if guest(caller, e).write(byte_ptr, bytes([value])) else errno.MEMORY_WRITE_FAILED


def fifo_is_closer(caller: Any, fifo_id: int, bool_ptr: int) -> int:
    e, found, code = _find("fifos", fifo_id, FIFO_NOT_FOUND)
    if e is None or code:
        return code
    return errno.NONE if guest(caller, e).write(bool_ptr, bytes([found[1]])) else errno.MEMORY_WRITE_FAILED


def fifo_close(caller: Any, fifo_id: int) -> None:
    e = abi.current()
    if e is not None:
        _state(e).fifos.pop(fifo_id, None)


# (name, params, has an errno result, implementation); fifoNew's result is the id itself.
_TABLE: list[tuple[str, int, bool, Callable[..., Any]]] = [
    ("memoryViewNew", 4, True, view_new),
    ("memoryViewOpen", 3, True, view_open),
    ("memoryViewRead", 5, True, view_read),
    ("memoryViewClose", 1, False, view_close),
    ("fifoNew", 1, True, fifo_new),
    ("fifoPush", 2, True, fifo_push),
    ("fifoPop", 2, True, fifo_pop),
    ("fifoIsCloser", 2, True, fifo_is_closer),
    ("fifoClose", 1, False, fifo_close),
]

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    for name, params, has_result, fn in _TABLE:
        define(linker, abi.SDK, name, ("i32",) * params, has_result, fn, takes_caller=True)
