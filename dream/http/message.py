"""What the HTTP server and the services it serves share: a parsed request, a whole answer, and the
checks on what goes out in a response head (its status line; no CR, LF or NUL inside a header field)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dream.http.server import Connection

log = logging.getLogger("dream.http")

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]

_UNSAFE = re.compile(rb"[\r\n\0]")
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}


def safe_fields(headers: Headers, request: Request) -> Headers:
    """`headers` without the fields whose name or value holds CR, LF or NUL, each logged: written, they
    would end the header line early and let the rest of the value pass for headers of its own (or for
    a body). The service that made them should have refused them; this is the last line."""
    safe = []
    for name, value in headers:
        if _UNSAFE.search(name) or _UNSAFE.search(value):
            log.error(
                "dropped the response header %r: %r of %s %s: a header name or value must not hold CR, "
                "LF or NUL",
                name[:64],
                value[:128],
                request.method,
                request.path,
            )
            continue
        safe.append((name, value))
    return safe


def unsafe_fields(head: list[bytes]) -> bool:
    """Whether the header fields in `head` (the status line, then name, ": ", value and CRLF per field)
    hold a CR, LF or NUL of their own: one count over them all instead of a test per field."""
    fields = b"".join(head[1:])
    # Each field brings one CR and one LF of its own line end: any more (or a NUL) is in a name or value.
    # One translate and two lengths: cheaper than a count per byte (and `in` on bytes, slow in 3.11).
    return len(fields) - len(fields.translate(None, b"\r\n\0")) != (len(head) - 1) >> 1


def status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n".encode()


class Request:
    """One parsed request, as the fast path sees it."""

    __slots__ = (
        "body",
        "headers",
        "http_version",
        "keep_alive",
        "method",
        "path",
        "query",
        "raw_path",
    )

    def __init__(self) -> None:
        self.method = ""
        self.path = ""
        self.raw_path = b""
        self.query = b""
        self.headers: Headers = []
        self.body = b""
        self.http_version = "1.1"
        self.keep_alive = True

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Later(Protocol):
    """A fast handler's answer that comes later (a proxy waiting for its upstream), with no task: the
    server holds the connection's next requests, `attach`es it, and the handler then ends the request
    with `Connection.answer_later` (or hands it to the ASGI app with `Connection.to_app`)."""

    def attach(self, connection: Connection, request: Request) -> None: ...

    def cancel(self) -> None:
        """The client went away first (servers with `cancel_on_disconnect`): stop the work."""


# A fast handler answers (status, headers, body), a `Later`, or None to leave the request to the ASGI app.
FastHandler = Callable[[Request], Answer | Later | None]
