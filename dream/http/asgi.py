"""Reading an ASGI request's body, for the public ports that pass requests on (substrate, gateway)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

FRAMING = (b"content-length", b"transfer-encoding")  # the headers that announce a request body
BODYLESS = frozenset({"GET", "HEAD"})


def announces_body(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name in FRAMING for name, _ in headers)


async def read_body(receive: Callable[[], Awaitable[Any]], method: str, framed: bool) -> bytes | None:
    """The whole body; None if the client went away first. A GET or HEAD with no length (`framed`
    False) has none, and is not asked for it."""
    if method in BODYLESS and not framed:
        return b""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
