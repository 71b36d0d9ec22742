"""The ASGI side of one request on `dream.http.server`: its scope, `receive` and `send`.

The body was read whole before the app runs, so `receive` hands it over in one message and then waits
only for the end. A whole response in one `http.response.body` message goes out with its head in one
write (`Connection.respond`); a body in several messages is streamed, chunked when it has no length.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from dream.http.message import Headers, Request, safe_fields, status_line

if TYPE_CHECKING:
    from dream.http.server import Connection


class Exchange:
    """The ASGI side of one request: its scope, `receive` and `send`."""

    __slots__ = (
        "chunked",
        "connection",
        "delivered",
        "finished",
        "head",
        "keep",
        "over",
        "request",
        "started",
        "status",
        "streaming",
    )

    def __init__(self, connection: Connection, request: Request) -> None:
        self.connection = connection
        self.request = request
        self.delivered = False
        self.started = False
        self.streaming = False
        self.finished = False
        self.chunked = False
        self.keep = True
        self.status = 200
        self.head: Headers = []
        self.over: asyncio.Event | None = None  # made when `receive` has to wait for the end

    def end(self) -> None:
        """The response is complete or the client is gone: `receive` answers `http.disconnect`."""
        if self.over is not None:
            self.over.set()

    def scope(self) -> dict[str, Any]:
        request = self.request
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "server": self.connection.local,
            "client": self.connection.client,
            "scheme": self.connection.server.scheme,
            "root_path": "",
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "query_string": request.query,
            "headers": request.headers,
            "state": {},
        }

    async def receive(self) -> dict[str, Any]:
        if not self.delivered:
            self.delivered = True
            return {"type": "http.request", "body": self.request.body, "more_body": False}
        # The body was read whole: all that is left to hear is the end (ASGI: after the response was
        # sent, or once the client is gone). An Event per exchange: a cancelled waiter cancels nothing
        # that the next request would wait on.
        if not self.finished and not self.connection.gone:
            if self.over is None:
                self.over = asyncio.Event()
            await self.over.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("the response was already started")
            status = int(message["status"])
            if status < 200:
                raise RuntimeError(
                    f"status {status} is not a final status; informational responses are not sent"
                )
            self.started = True
            self.status = status
            self.head = [(k.lower(), v) for k, v in message.get("headers") or []]
            return
        if kind != "http.response.body" or not self.started or self.finished:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        if self.connection.transport.is_closing():
            # The client is gone (a closed uvloop transport raises on write): the rest goes nowhere.
            if not more:
                self.finished = True
                self.end()
            return
        if not more and not self.streaming:
            # The usual case: the whole body in one message, written with the head in one go.
            self.finished = True
            self.connection.respond(self.request, self.status, self.head, body)
            self.end()
            return
        await self._stream(body, more)

    async def _stream(self, body: bytes, more: bool) -> None:
        """A body in several messages: the head first, then each part as it comes."""
        connection = self.connection
        request = self.request
        bodyless = request.method == "HEAD" or self.status in (204, 304)
        if not self.streaming:
            self.streaming = True
            self.keep = request.keep_alive
            head = [status_line(self.status)]
            length = None
            for key, value in safe_fields(self.head, request):
                if key == b"content-length":
                    length = value
                elif key == b"connection":
                    self.keep = self.keep and b"close" not in value.lower()
                    continue
                elif key == b"transfer-encoding":
                    continue
                head += [key, b": ", value, b"\r\n"]
            if length is None and not bodyless:
                if request.http_version == "1.0":
                    self.keep = False  # no chunked encoding in HTTP/1.0: the end of the connection ends it
                else:
                    self.chunked = True
                    head.append(b"transfer-encoding: chunked\r\n")
            self.keep = self.keep and not connection.closing and not connection.server.should_exit
            if not self.keep:
                head.append(b"connection: close\r\n")
            elif request.http_version == "1.0":
                head.append(b"connection: keep-alive\r\n")
            head.append(b"\r\n")
            connection.write(b"".join(head))
        if body and not bodyless:
            connection.write(b"%x\r\n%b\r\n" % (len(body), body) if self.chunked else body)
        if more:
            await connection.writable.wait()
            return
        if self.chunked:
            connection.write(b"0\r\n\r\n")
        self.finished = True
        self.end()
        connection.last_active = time.monotonic()
        if not self.keep or connection.closing or connection.server.should_exit:
            connection.close()
