"""What the event host families (pub-sub, p2p, HTTP client, DNS, ...) share.

- The pairs of calls that hand a guest a value it sizes first: `xSize(…, sizePtr)` writes the value's
  length, then `x(…, bufPtr)` writes the value into the buffer the guest made of that length. A family gives   `find(caller, event, *the call's other arguments) → (value, errno)` once; `size_call` and `data_call`
  make the two calls of it, with the usual answers: EVENT_NOT_FOUND outside a call, the errno `find`
  gave, MEMORY_WRITE_FAILED / ADDRESS_OUT_OF_MEMORY when the guest's pointer is bad.
- String arguments (`read_text`) and the handles a call hands out (`new_handle`: clients, resolvers,
  commands; numbered from 1 within the call).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dream.wasm import abi, errno
from dream.wasm.guest_memory import guest

Find = Callable[..., tuple[bytes, int]]


def _found(find: Find, caller: Any, args: tuple[int, ...]) -> tuple[Any, bytes, int]:
    """(event, value, errno) of a sized call: its last argument is the pointer, the rest go to `find`."""
    e = abi.current()
    if e is None:
        return None, b"", errno.EVENT_NOT_FOUND
    value, code = find(caller, e, *args[:-1])
    return e, value, code


def size_call(find: Find) -> Callable[..., int]:
    def size(caller: Any, *args: int) -> int:
        e, value, code = _found(find, caller, args)
        if e is None or code:
            return code
        return errno.NONE if guest(caller, e).put_u32(args[-1], len(value)) else errno.MEMORY_WRITE_FAILED

    return size


def data_call(find: Find) -> Callable[..., int]:
    def data(caller: Any, *args: int) -> int:
        e, value, code = _found(find, caller, args)
        if e is None or code:
            return code
        return errno.NONE if guest(caller, e).write(args[-1], value) else errno.ADDRESS_OUT_OF_MEMORY

    return data


def read_text(caller: Any, e: Any, ptr: int, n: int) -> str | None:
    """A string argument (UTF-8, bad bytes replaced) of the guest, None when it is out of its memory."""
    raw = guest(caller, e).read(ptr, n)
    return None if raw is None else raw.decode(errors="replace")


def new_handle(e: Any, value: object) -> int:
    """Keep `value` for the rest of the call: the handle the guest names it by."""
    if e.handles is None:
        e.handles = {}
    handle = max(e.handles, default=0) + 1
    e.handles[handle] = value
    return int(handle)
