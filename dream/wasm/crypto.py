"""Host function of the `taubyte/sdk` crypto/rand family (go-sdk `crypto/rand`).

cryptoRead(bufPtr, len, readPtr)  → errno   fills the buffer from the system's CSPRNG and writes the
                                            count read as a u64 (110 when the system source fails)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.guest_memory import guest

RAND_READ = 110  # go-sdk errno ErrorRandRead


def crypto_read(caller: Any, buf: int, n: int, read_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    n &= 0xFFFFFFFF
    if not g.fits(buf, n):
        return errno.ADDRESS_OUT_OF_MEMORY
    try:
        data = os.urandom(n)
    except OSError:
        return RAND_READ
    # The count is a u64: two u32 halves, low first.
    if not (g.put_u32(read_ptr, n) and g.put_u32(read_ptr + 4, 0)):
        return errno.MEMORY_WRITE_FAILED
    return errno.NONE if g.write(buf, data) else errno.ADDRESS_OUT_OF_MEMORY


IMPLEMENTED: frozenset[tuple[str, str]] = frozenset({(abi.SDK, "cryptoRead")})


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    define(linker, abi.SDK, "cryptoRead", ("i32",) * 3, True, crypto_read, takes_caller=True)
