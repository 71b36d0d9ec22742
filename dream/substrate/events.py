"""A request as a function receives it (the wasm host's `HttpRequest`), read from the raw HTTP server or an
ASGI scope, and the plain answers of calls that failed."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from dream.http.asgi import announces_body, read_body
from dream.http.hosts import routed_host
from dream.http.message import Answer
from dream.wasm.errors import SubstrateBusy, WasmCancelled, WasmError, WasmTimeout
from dream.wasm.interrupt import CallControl
from dream.wasm.types import HttpRequest

_HOSTS: dict[bytes, str] = {}  # Host header → normalised host (a few distinct values in practice)


def host_header(headers: list[tuple[bytes, bytes]]) -> bytes:
    for key, value in headers:
        if key == b"host":
            return value
    return b""


def normal_host(raw: bytes) -> str:
    """The Host header, lower-cased, without port, trailing dot or `.localhost` suffix (cached: the fast
    path pays one dict look-up)."""
    host = _HOSTS.get(raw)
    if host is None:
        host = routed_host(raw)
        if len(_HOSTS) < 4096:  # any Host header may come: keep the first ones only
            _HOSTS[raw] = host
    return host


def event_of(
    method: str, path: str, query: bytes, raw_headers: list[tuple[bytes, bytes]], body: bytes, raw_host: bytes
) -> HttpRequest:
    return HttpRequest(
        method=method,
        host=raw_host.decode("latin-1"),  # as received, port included
        path=path,
        query=parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else [],
        raw_headers=raw_headers,  # decoded only if the guest reads a header
        body=body,
    )


async def event_from_scope(scope: Any, receive: Any, raw_host: bytes) -> HttpRequest | None:
    """The request of an ASGI scope (the body read whole); None when the client went away before its
    body was complete."""
    raw = scope["headers"]
    body = await read_body(receive, scope["method"], announces_body(raw))
    if body is None:
        return None
    return event_of(scope["method"], scope["path"], scope["query_string"], raw, body, raw_host)


async def stop_when_gone(receive: Any, control: CallControl) -> None:
    """Cancel the call once `receive` says the client is gone (a body not asked for comes first)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    control.cancel()


def failed(exc: WasmError) -> Answer:
    if isinstance(exc, WasmTimeout):
        status = 504
    elif isinstance(exc, SubstrateBusy | WasmCancelled):  # a serving limit; a cancelled call's client is gone
        status = 503
    else:
        status = 500
    return plain(status, str(exc))


def plain(status: int, text: str) -> Answer:
    body = text.encode()
    return (
        status,
        [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        body,
    )
