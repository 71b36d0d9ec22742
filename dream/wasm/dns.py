"""Host functions of the `taubyte/sdk` DNS family (go-sdk `dns`).

    dnsNewResolver(idPtr)                                   → errno
    dnsRerouteResolver(id, addrPtr, addrLen, netPtr, netLen) → errno  its lookups go to addr ("host:port",
                                                                     net "udp" or "tcp") from then on
    dnsResetResolver(id)                                    → errno  back to the default resolver
    dnsLookup{TxT,Address,CNAME,MX}Size(id, namePtr, nameLen, sizePtr) → errno  the lookup, kept for the data call
    dnsLookup{TxT,Address,CNAME,MX}(id, namePtr, nameLen, bufPtr)      → errno  the answer (taken once)

TXT, Address (a reverse lookup: the names of an address) and MX answers are lists, each item followed
by 0x00; an MX item is `host/preference/` (upstream's shape); a CNAME answer is one name. Errors: 101
unknown resolver, 102-105 a failed TXT, Address, CNAME or MX lookup, and 102 for a data call with no
size call before it (upstream's answers). Who answers is the substrate's (`EventServices.dns_lookup`):
seer for the universe's own names, the system's resolver for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.event import HttpEvent
from dream.wasm.family import data_call, new_handle, read_text, size_call
from dream.wasm.guest_memory import guest
from dream.wasm.scope import current_scope

# go-sdk errno/types.go declaration order
RESOLVER_NOT_FOUND = 101
FAILED = {"txt": 102, "address": 103, "cname": 104, "mx": 105}
_NAMES = {"txt": "TxT", "address": "Address", "cname": "CNAME", "mx": "MX"}


class _Resolver:
    __slots__ = ("answers", "server")

    def __init__(self) -> None:
        self.server: tuple[str, str] | None = None  # (address, network) once rerouted
        self.answers: dict[tuple[str, str], bytes] = {}  # (kind, name) → the encoded answer of a size call


def _resolver(e: HttpEvent, resolver_id: int) -> _Resolver | None:
    found = e.handles.get(resolver_id) if e.handles else None
    return found if isinstance(found, _Resolver) else None


def new_resolver(caller: Any, id_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    ok = guest(caller, e).put_u32(id_ptr, new_handle(e, _Resolver()))
    return errno.NONE if ok else errno.MEMORY_WRITE_FAILED


def reroute(caller: Any, resolver_id: int, addr_ptr: int, addr_len: int, net_ptr: int, net_len: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    g = guest(caller, e)
    addr, net = g.read(addr_ptr, addr_len), g.read(net_ptr, net_len)
    if addr is None or net is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    resolver = _resolver(e, resolver_id)
    if resolver is None:
        return RESOLVER_NOT_FOUND
    resolver.server = (addr.decode(errors="replace"), net.decode(errors="replace") or "udp")
    return errno.NONE


def reset(caller: Any, resolver_id: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    resolver = _resolver(e, resolver_id)
    if resolver is None:
        return RESOLVER_NOT_FOUND
    resolver.server = None
    return errno.NONE


def _encode(kind: str, answers: list[str]) -> bytes:
    if kind == "cname":
        return answers[0].encode() if answers else b""
    return b"".join(a.encode() + b"\0" for a in answers)


def _asked(caller: Any, e: HttpEvent, resolver_id: int, name_ptr: int, name_len: int) -> tuple[Any, str, int]:
    """(the resolver, the name asked, errno) of a lookup call."""
    name = read_text(caller, e, name_ptr, name_len)
    if name is None:
        return None, "", errno.ADDRESS_OUT_OF_MEMORY
    resolver = _resolver(e, resolver_id)
    return resolver, name, (RESOLVER_NOT_FOUND if resolver is None else errno.NONE)


def _answer(kind: str) -> Callable[..., tuple[bytes, int]]:
    """A lookup's size call: resolves the name, keeps the encoded answer for the data call."""

    def find(caller: Any, e: HttpEvent, resolver_id: int, name_ptr: int, name_len: int) -> tuple[bytes, int]:
        resolver, name, code = _asked(caller, e, resolver_id, name_ptr, name_len)
        if code:
            return b"", code
        scope = current_scope()
        found = (
            scope.services.dns_lookup(scope, kind, name, resolver.server, e.remaining())
            if scope.services is not None
            else None
        )
        if found is None:
            return b"", FAILED[kind]
        encoded = resolver.answers[(kind, name)] = _encode(kind, found)
        return encoded, errno.NONE

    return find


def _kept(kind: str) -> Callable[..., tuple[bytes, int]]:
    """A lookup's data call: the answer its size call kept (once)."""

    def find(caller: Any, e: HttpEvent, resolver_id: int, name_ptr: int, name_len: int) -> tuple[bytes, int]:
        resolver, name, code = _asked(caller, e, resolver_id, name_ptr, name_len)
        if code:
            return b"", code
        encoded = resolver.answers.pop((kind, name), None)
        return (b"", FAILED["txt"]) if encoded is None else (encoded, errno.NONE)

    return find


_TABLE: list[tuple[str, int, Callable[..., int]]] = [
    ("dnsNewResolver", 1, new_resolver),
    ("dnsRerouteResolver", 5, reroute),
    ("dnsResetResolver", 1, reset),
]
for _kind, _name in _NAMES.items():
    _TABLE.append((f"dnsLookup{_name}Size", 4, size_call(_answer(_kind))))
    _TABLE.append((f"dnsLookup{_name}", 4, data_call(_kept(_kind))))

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)
# Lookups wait on the network: a module importing them never runs inline.
BLOCKING: frozenset[tuple[str, str]] = frozenset((abi.SDK, f"dnsLookup{n}Size") for n in _NAMES.values())


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, ("i32",) * params, True, fn, takes_caller=True)
