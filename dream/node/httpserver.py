"""A small HTTP/1.1 server (asyncio + httptools) for the ports that carry user traffic.

uvicorn runs every request as an ASGI task and writes each response in two system calls (head, then
body); for a wasm function answering in 25 us that is most of the cost of a request. This server
parses with httptools like uvicorn, but a service may answer a request synchronously, straight from
the parser callback (`fast`): no task, no ASGI messages, one write. Everything else goes to an ASGI
app, one request at a time per connection, in order (pipelined requests wait their turn). Whole
answers are held until the loop has answered every request it read in that pass, then written, one
write per connection (`HttpServer.hold`).

Request bodies are read whole before the app runs (up to `MAX_BODY`); responses may stream
(`more_body`), chunked when they give no content-length. Keep-alive, HTTP/1.0, `Connection: close`,
`Expect: 100-continue`, pipelining, errors answered in turn (400, 413, 501 for websockets; other
upgrades such as h2c are ignored), idle connections closed after `keep_alive` seconds, and a graceful
stop that lets requests in flight finish: `serve`, `started` and `should_exit` work as uvicorn's
Server does for the node runtime.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools

log = logging.getLogger("dream.http")

MAX_BODY = 64 * 1024 * 1024
Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]

# Headers that frame the message: the server writes its own.
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}


def status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n".encode()


class Request:
    """One parsed request, as the fast path sees it."""

    __slots__ = ("body", "headers", "http_version", "keep_alive", "method", "path", "query", "raw_path")

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


# A fast handler answers (status, headers, body) or None to leave the request to the ASGI app.
FastHandler = Callable[[Request], Answer | None]


class HttpServer:
    """Serves `app` (ASGI 3) on sockets, with an optional synchronous `fast` handler tried first."""

    def __init__(
        self,
        app: Callable[[Any, Any, Any], Awaitable[None]],
        *,
        fast: FastHandler | None = None,
        keep_alive: float = 30.0,
    ) -> None:
        self.app = app
        self.fast = fast
        self.keep_alive = keep_alive
        self.started = False
        self.should_exit = False
        self.connections: set[Connection] = set()
        self.unflushed: list[Connection] = []  # connections holding answers until this loop pass ends
        self.loop: asyncio.AbstractEventLoop | None = None

    def hold(self, connection: Connection) -> None:
        """Write `connection`'s answers once the requests read in this pass of the event loop are all
        answered. On loopback every write wakes a client waiting for it; answers written together wake
        it once (a woken client takes the rest in the same go), which saves a fifth of a small
        request's cost under load and delays none by more than one pass."""
        if not self.unflushed:
            assert self.loop is not None
            self.loop.call_soon(self._flush)
        self.unflushed.append(connection)

    def _flush(self) -> None:
        connections, self.unflushed = self.unflushed, []
        for connection in connections:
            connection.flush()

    async def serve(self, sockets: list[socket.socket]) -> None:
        loop = self.loop = asyncio.get_running_loop()
        servers = [await loop.create_server(lambda: Connection(self), sock=sock) for sock in sockets]
        self.started = True
        try:
            while not self.should_exit:
                await asyncio.sleep(0.1)
                self._close_idle()
        finally:
            for server in servers:
                server.close()
            # Let requests in flight finish; idle connections close now.
            deadline = time.monotonic() + 5
            for connection in list(self.connections):
                connection.closing = True
                if connection.idle:
                    connection.close()
            while any(not c.idle for c in self.connections) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for connection in list(self.connections):
                connection.close()

    def _close_idle(self) -> None:
        now = time.monotonic()
        for connection in list(self.connections):
            if connection.idle and now - connection.last_active > self.keep_alive:
                connection.close()


class Connection(asyncio.Protocol):
    """One client connection: parses requests and answers them in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: Any = None
        self.parser = httptools.HttpRequestParser(self)
        self.request = Request()
        self.url = b""
        self.body: list[bytes] = []
        self.size = 0
        self.expect_continue = False
        self.upgrade = False  # the request being parsed asks for a websocket
        self.reject: tuple[int, str] | None = None  # why a callback stopped the parser
        self.refusal: tuple[int, str] | None = None  # an error answer waiting for the requests before it
        self.ended = False  # no more requests are read: the last one said close, or the parser failed
        self.waiting: collections.deque[Request] = collections.deque()
        self.busy = False  # an ASGI request is running
        self.task: asyncio.Task[None] | None = None
        self.exchange: _Exchange | None = None
        self.closing = False
        self.gone = False  # connection_lost has run
        self.last_active = time.monotonic()
        self.writable = asyncio.Event()
        self.writable.set()
        self.client: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None
        self.held: list[bytes] = []  # answers not written yet (`HttpServer.hold`)

    @property
    def idle(self) -> bool:
        return not self.busy and not self.waiting

    def write(self, data: bytes) -> None:
        """Write now, after any answers held for this connection."""
        if self.held:
            self.flush()
        self.transport.write(data)

    def flush(self) -> None:
        held = self.held
        if held:
            self.held = []
            if not self.transport.is_closing():
                self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        """Close once what was answered is written."""
        self.flush()
        self.transport.close()

    # -- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server.connections.add(self)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.client = (str(peer[0]), int(peer[1])) if peer else None
        self.local = (str(local[0]), int(local[1])) if local else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = self.gone = True
        self.waiting.clear()
        self.held.clear()
        if self.exchange is not None:
            self.exchange.end()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        # After a request that ends the connection (or a refused one) nothing more is parsed: a response
        # may already have closed the transport, and llhttp calls any byte after `Connection: close` an
        # error.
        if self.ended or self.transport.is_closing():
            return
        self.last_active = time.monotonic()
        while True:
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as exc:
                if self.upgrade:
                    self._fail(501, "protocol upgrades (websockets) are not supported here")
                    return
                # Another upgrade (h2c): the request was served as plain HTTP/1.1, as RFC 9110 allows;
                # httptools has resumed, go on with what follows it.
                data = data[exc.args[0] :] if exc.args else b""
                if not data or self.ended or self.transport.is_closing():
                    return
            except httptools.HttpParserError as exc:
                if self.ended:
                    return  # bytes after `Connection: close`: ignored
                # A callback error is one of ours (`reject`) or an unparsable URL.
                self._fail(*(self.reject or (400, f"malformed HTTP request: {exc}")))
                return

    # -- httptools callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.request = Request()
        self.url = b""
        self.body = []
        self.size = 0
        self.expect_continue = False
        self.upgrade = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self.request.headers.append((name, value))
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True

    def on_headers_complete(self) -> None:
        request = self.request
        request.method = self.parser.get_method().decode("ascii")
        request.http_version = self.parser.get_http_version()
        request.keep_alive = self.parser.should_keep_alive()
        url = httptools.parse_url(self.url)
        request.raw_path = url.path or b"/"  # absolute form without a path: `GET http://host HTTP/1.1`
        path = request.raw_path.decode("ascii", "replace")
        request.path = unquote(path) if "%" in path else path
        request.query = url.query or b""
        if self.parser.should_upgrade():
            upgrade = request.header(b"upgrade") or b""
            self.upgrade = b"websocket" in upgrade.lower()
        # Refuse a body announced too large before the client sends it (and before `100 Continue`).
        length = request.header(b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > MAX_BODY:
            self._reject(413, f"request body larger than {MAX_BODY} bytes")
        if self.expect_continue and request.http_version == "1.1" and not self.upgrade:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_BODY:  # a chunked body has no length up front
            self._reject(413, f"request body larger than {MAX_BODY} bytes")
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.upgrade or self.transport.is_closing():
            return  # a websocket is refused once the parser stops (data_received); a closed one is over
        request = self.request
        request.body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        self.body = []
        if not request.keep_alive:
            self.ended = True
        if self.busy or self.waiting:
            self.waiting.append(request)
            self.transport.pause_reading()  # resumed by _next once the queue is empty
            return
        self._dispatch(request)

    def _reject(self, status: int, message: str) -> None:
        """Stop the parser from a callback: httptools reports any exception a callback raises as an
        `HttpParserCallbackError`, so why it stopped is kept here for data_received."""
        self.reject = (status, message)
        raise httptools.HttpParserError(message)

    # -- answering -----------------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> None:
        fast = self.server.fast
        if fast is not None:
            try:
                answer = fast(request)
            except Exception:
                log.exception("fast handler failed on %s %s", request.method, request.path)
                answer = (500, _TEXT, b"Internal Server Error")
            if answer is not None:
                self.respond(request, *answer)
                return
        self.busy = True
        self.task = asyncio.get_running_loop().create_task(self._run_app(request))

    def respond(self, request: Request, status: int, headers: Headers, body: bytes) -> None:
        """Write a whole response (head and body in one write)."""
        if self.transport.is_closing():
            return
        if status < 200:  # a 1xx is not an answer: the client would take the next response for it
            log.error("%s %s was answered %s, not a final status", request.method, request.path, status)
            status, headers, body = 500, _TEXT, b"Internal Server Error"
        keep = request.keep_alive and not self.closing and not self.server.should_exit
        head_only = request.method == "HEAD"
        length: bytes | None = None
        head = [status_line(status)]
        for key, value in headers:
            name = key.lower()
            if name in _FRAMING:
                if name == b"connection" and b"close" in value.lower():
                    keep = False
                elif name == b"content-length" and head_only:
                    length = value  # a HEAD answer says how long the GET body would be
                continue
            head += [key, b": ", value, b"\r\n"]
        if status not in (204, 304):
            head += [b"content-length: ", length or str(len(body)).encode(), b"\r\n"]
        if not keep:
            head.append(b"connection: close\r\n")
        elif request.http_version == "1.0":
            head.append(b"connection: keep-alive\r\n")  # else an HTTP/1.0 client waits for the close
        head.append(b"\r\n")
        if not head_only and status not in (204, 304):
            head.append(body)
        if keep:
            if not self.held:
                self.server.hold(self)
            self.held.append(b"".join(head))
        else:
            self.write(b"".join(head))
            self.transport.close()
        self.last_active = time.monotonic()

    def _fail(self, status: int, message: str) -> None:
        """Answer an unparsable or refused request, after the requests before it, and close."""
        self.ended = True
        if self.idle:
            self._refuse(status, message)
        else:
            self.refusal = (status, message)
            self.transport.pause_reading()

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode()
        if not self.transport.is_closing():
            self.write(
                status_line(status)
                + b"content-type: text/plain; charset=utf-8\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\nconnection: close\r\n\r\n"
                + body
            )
            self.transport.close()

    def _next(self) -> None:
        """The ASGI request finished: answer the pipelined ones that waited for it."""
        self.busy = False
        self.task = None
        self.exchange = None
        while self.waiting and not self.busy and not self.transport.is_closing():
            self._dispatch(self.waiting.popleft())
        if self.transport.is_closing():
            self.waiting.clear()
        elif self.idle:
            if self.refusal is not None:
                self._refuse(*self.refusal)
            elif not self.ended:
                self.transport.resume_reading()

    async def _run_app(self, request: Request) -> None:
        exchange = self.exchange = _Exchange(self, request)
        try:
            await self.server.app(exchange.scope(), exchange.receive, exchange.send)
        except Exception:
            log.exception("error while serving %s %s", request.method, request.path)
            if not exchange.started:
                self.respond(request, 500, _TEXT, b"Internal Server Error")
            else:
                self.close()
        else:
            if not exchange.started:
                self.respond(request, 500, _TEXT, b"Internal Server Error")
            elif not exchange.finished:
                self.close()  # the app never ended its body: the client cannot know where it ends
        finally:
            exchange.end()
            self._next()


class _Exchange:
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
            "scheme": "http",
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
            for key, value in self.head:
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
