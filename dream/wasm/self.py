"""Host functions of the `taubyte/sdk` self family (go-sdk `self`): who the running function is.

    self{Project,Application,Id,Branch,Commit}Size(sizePtr)  → errno
    self{Project,Application,Id,Branch,Commit}(bufPtr)       → errno   the value, no terminator

Values come from the function's `FunctionScope`: its project id, application id ("" for a function of
the project itself), resource id, and the branch and commit it is served from. (Upstream's
`selfBranch` writes its list of default branches; dream writes the branch the function is served from,
which is what go-sdk's `self.Branch()` reads it as.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.guest_memory import guest
from dream.wasm.scope import FunctionScope, current_scope

_VALUES: dict[str, Callable[[FunctionScope], str]] = {
    "Project": lambda s: s.project,
    "Application": lambda s: s.application,
    "Id": lambda s: s.resource,
    "Branch": lambda s: s.branch,
    "Commit": lambda s: s.commit,
}


def _size(value: Callable[[FunctionScope], str]) -> Callable[..., int]:
    def size(caller: Any, size_ptr: int) -> int:
        e = abi.current()
        if e is None:
            return errno.EVENT_NOT_FOUND
        data = value(current_scope()).encode()
        return errno.NONE if guest(caller, e).put_u32(size_ptr, len(data)) else errno.MEMORY_WRITE_FAILED

    return size


def _data(value: Callable[[FunctionScope], str]) -> Callable[..., int]:
    def data(caller: Any, buf: int) -> int:
        e = abi.current()
        if e is None:
            return errno.EVENT_NOT_FOUND
        raw = value(current_scope()).encode()
        return errno.NONE if guest(caller, e).write(buf, raw) else errno.ADDRESS_OUT_OF_MEMORY

    return data


_TABLE: list[tuple[str, int, Callable[..., int]]] = []
for _name, _value in _VALUES.items():
    _TABLE.append((f"self{_name}Size", 1, _size(_value)))
    _TABLE.append((f"self{_name}", 1, _data(_value)))

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, ("i32",) * params, True, fn, takes_caller=True)
