"""A small HTTP/1.1 server (asyncio + httptools) for the ports that carry user traffic.

uvicorn runs every request as an ASGI task and writes each response in two system calls (head, then
body); for a wasm function answering in 25 us that is most of the cost of a request. This server
parses with httptools like uvicorn, but a service may answer a request synchronously, straight from
the parser callback (`fast`): no task, no ASGI messages, one write; or later, from a callback
(`Later`: a proxy's answer, `Connection.answer_later`). Everything else goes to an ASGI
app, one request at a time per connection, in order (pipelined requests wait their turn). Whole
answers are held until the loop has answered every request it read in that pass, then written, one
write per connection (`HttpServer.hold`).

Request bodies are read whole before the app runs (up to `MAX_BODY`); responses may stream
(`more_body`), chunked when they give no content-length. Keep-alive, HTTP/1.0, `Connection: close`,
`Expect: 100-continue`, pipelining, errors answered in turn (400, 413, 501 for websockets unless the
server takes them: `upgrade`, see `dream.http.websocket`; other upgrades such as h2c are ignored), idle connections closed after `keep_alive` seconds, and a graceful
stop that lets requests in flight finish: `serve`, `started` and `should_exit` work as uvicorn's
Server does for the node runtime; `stop` sets `should_exit` and also ends the sweep's rest (with no
connection the sweep waits for one instead of waking ten times a second).

The head of a request (request line and header fields) is limited while it arrives (`MAX_REQUEST_LINE`,
`MAX_HEADER_LINE`, `MAX_HEADERS`, `MAX_HEAD`, `HEAD_TIMEOUT`; each an `HttpServer` argument): bytes are
counted in `data_received` before the parser sees them, so an oversized head is refused (414, 431, or
408 for one that takes too long) after at most `max_head` bytes, never buffered whole. A refused
connection gets its answer, then its input is read and dropped for `REFUSAL_LINGER` seconds so the client
can read that answer, then it is closed. No header line with CR, LF or NUL is ever written.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import unquote

import httptools

from dream.http import headparse
from dream.http.exchange import Exchange
from dream.http.message import (
    FastHandler,
    Headers,
    Later,
    Request,
    safe_fields,
    status_line,
    unsafe_fields,
)
from dream.http.tls import Certificates, TlsProtocol
from dream.http.websocket import Upgrade, WebSocket, handshake_problem

log = logging.getLogger("dream.http")


class Relay(Protocol):
    """A proxy's relay of the usual request (`HttpServer`'s `relay`, the gateway's relay in C), given each
    read first: when the read is one whole head and nothing else, on a connection between requests (as
    `Connection.receive` would parse it at once and `_dispatch` it) and the fast path on, it may send the
    request on, make the connection wait for its `Later` (`busy`, `later`, `last_active`) and answer
    that; else it hands the read to `Connection.receive`."""

    def reader(self, connection: Connection) -> Callable[[bytes], None]:
        """The connection's `data_received`: the relay first, then `connection.receive`."""
        ...


MAX_BODY = 64 * 1024 * 1024
# Limits on the head of a request; each is also an `HttpServer` argument (docs/security.md, "HTTP limits").
MAX_REQUEST_LINE = 8 * 1024  # bytes of method and target together: longer is a 414
MAX_HEADER_LINE = 8 * 1024  # bytes of one header field, name and value: larger is a 431
MAX_HEADERS = 100  # header fields in one request: more is a 431
MAX_HEAD = 64 * 1024  # bytes of the whole head (request line, header lines, blank line): more is a 431
HEAD_TIMEOUT = 10.0  # seconds from a request's first byte to the end of its head: later is a 408
REFUSAL_LINGER = 2.0  # seconds a refused connection's input is still read (and dropped) before closing
SWEEP_SECONDS = 0.1  # how often the sweep looks at the connections (idle, slow heads, lingering)
# With no connection there is nothing to sweep: it waits for the first one (or `stop`) this long at most.
REST_SECONDS = 1.0

# Headers that frame the message: the server writes its own.
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
# The status line and header fields of recent answers, by (status, *headers), for those with no framing
# field and nothing unsafe: checked and joined once (a function answers with the same head each time).
_HEADS: dict[tuple[Any, ...], bytes] = {}
HEADS_KEPT = 256


def _shown(name: bytes) -> str:
    """A header name as an error message shows it: printable, and short."""
    text = name[:64].decode("ascii", "backslashreplace")
    return text + "..." if len(name) > 64 else text


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown client"


class HttpServer:
    """Serves `app` (ASGI 3) on sockets, with an optional synchronous `fast` handler tried first."""

    def __init__(
        self,
        app: Callable[[Any, Any, Any], Awaitable[None]],
        *,
        fast: FastHandler | None = None,
        keep_alive: float = 30.0,
        cancel_on_disconnect: bool = False,
        max_request_line: int = MAX_REQUEST_LINE,
        max_header_line: int = MAX_HEADER_LINE,
        max_headers: int = MAX_HEADERS,
        max_head: int = MAX_HEAD,
        head_timeout: float = HEAD_TIMEOUT,
        linger: float = REFUSAL_LINGER,
        tls: Certificates | None = None,
        upgrade: Upgrade | None = None,
        relay: Relay | None = None,
    ) -> None:
        limits = {
            "keep_alive": keep_alive,
            "max_request_line": max_request_line,
            "max_header_line": max_header_line,
            "max_headers": max_headers,
            "max_head": max_head,
            "head_timeout": head_timeout,
        }
        for name, value in limits.items():
            if not value > 0:
                raise ValueError(f"HttpServer {name} must be a positive number, not {value!r}")
        if linger < 0:
            raise ValueError(f"HttpServer linger must be 0 or more seconds, not {linger!r}")
        self.app = app
        self.fast = fast
        self.upgrade = upgrade  # takes websocket upgrades (None: they are refused with 501)
        # Takes a whole usual head before it is parsed here (a proxy relaying it in C), with `fast`: it
        # looks at `fast` and takes nothing while that is off (a chaos fault on the port).
        self.relay = relay
        self.keep_alive = keep_alive
        # A proxy has nothing to answer once its client is gone: its request task is cancelled, which
        # drops the upstream connection, so the server behind it stops the work too.
        self.cancel_on_disconnect = cancel_on_disconnect
        self.max_request_line = max_request_line
        self.max_header_line = max_header_line
        self.max_headers = max_headers
        self.max_head = max_head
        self.head_timeout = head_timeout
        self.linger = linger
        # With `tls`, every connection is TLS first (`dream.http.tls`): an HTTPS port.
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self.started = False
        self.should_exit = False
        self.connections: set[Connection] = set()
        # Set by the first connection to an empty server and by `stop`: ends the sweep's rest.
        self.stirred = asyncio.Event()
        self.unflushed: list[Connection] = []  # connections holding answers until this loop pass ends
        # The usual head parsed in one C call (None: every head goes through httptools' callbacks).
        self.parse_head = headparse.parser()
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
        tls = self.tls
        protocol: Callable[[], asyncio.BaseProtocol] = (
            (lambda: Connection(self)) if tls is None else (lambda: TlsProtocol(Connection(self), tls))
        )
        servers = [
            # A Unix socket serves the same protocol (a peer on this machine: `Node.http_socket`).
            await (loop.create_unix_server if sock.family == socket.AF_UNIX else loop.create_server)(
                protocol, sock=sock
            )
            for sock in sockets
        ]
        self.started = True
        try:
            while not self.should_exit:
                if self.connections:
                    await asyncio.sleep(SWEEP_SECONDS)
                    self._sweep()
                    continue
                # At rest, waking ten times a second took a core from whatever else was serving.
                self.stirred.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stirred.wait(), REST_SECONDS)
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

    def stop(self) -> None:
        """End `serve` as `should_exit` does, without waiting for the sweep's rest to end. From any
        thread."""
        self.should_exit = True
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.stirred.set)

    def _sweep(self) -> None:
        """Every 0.1 s: close idle keep-alive connections, refuse heads past their deadline (408), and
        end the lingering of refused connections. A sweep instead of a timer per request keeps timers
        off the fast path."""
        now = time.monotonic()
        for connection in list(self.connections):
            if connection.socket is not None:
                continue  # a websocket: it lives as long as either side wants
            if connection.linger_until:
                if now > connection.linger_until:
                    connection.transport.abort()  # done waiting for the client to read the refusal
            elif connection.idle:
                if (
                    connection.head_size
                    and not connection.ended
                    and now - connection.head_began > self.head_timeout
                ):
                    connection.refuse_slow_head()
                elif now - connection.last_active > self.keep_alive:
                    connection.close()


class Connection(asyncio.Protocol):
    """One client connection: parses requests and answers them in order."""

    __slots__ = (
        "body",
        "busy",
        "client",
        "closing",
        "data_received",
        "ended",
        "exchange",
        "expect_continue",
        "gone",
        "head_began",
        "head_size",
        "head_tail",
        "held",
        "host",
        "in_head",
        "last_active",
        "later",
        "length",
        "linger_until",
        "local",
        "max_head",
        "max_header_line",
        "max_headers",
        "parse_head",
        "parser",
        "refusal",
        "reject",
        "request",
        "server",
        "size",
        "socket",
        "stall",
        "task",
        "trailers",
        "transport",
        "unmeasured",
        "upgrade",
        "url",
        "url_room",
        "waiting",
        "writable",
    )

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        # What the transport calls with each read (uvloop keeps it from the start): a proxy's relay looks
        # at a read first, in C, and hands `receive` what it does not take. An attribute in place of
        # asyncio.Protocol's method, which mypy calls a method replaced.
        reader = self.receive if server.relay is None else server.relay.reader(self)
        self.data_received = reader  # type: ignore[method-assign,assignment]
        # The limits the callbacks test on every request, at hand.
        self.max_head = server.max_head
        # A target longer than this may pass max_request_line with its method (every method is shorter
        # than 16 bytes): only then is the method looked at.
        self.url_room = server.max_request_line - 16
        self.max_headers = server.max_headers
        self.max_header_line = server.max_header_line
        self.parse_head = server.parse_head
        self.transport: Any = None
        self.parser = httptools.HttpRequestParser(self)
        self.request = Request()
        self.url = b""
        self.body: list[bytes] = []
        self.size = 0
        self.length = -1  # the content-length of the request being read; -1: chunked (or none)
        # The head being read: whether the bytes that arrive belong to one, how many have, when the
        # first did (`HEAD_TIMEOUT`), and its last 3 bytes (a blank line may straddle two reads).
        self.in_head = True
        self.head_size = 0
        self.head_began = 0.0
        self.head_tail = b""
        self.host = False  # the request being read has a Host header
        self.trailers = 0  # trailer fields of the chunked body being read
        self.stall = 0  # bytes of a chunked body read since the last body data: framing and trailers
        self.unmeasured = False  # the parser is fed past the end of a chunked body, heads and all
        self.linger_until = 0.0  # refused: input is dropped until then, then the connection is closed
        self.expect_continue = False
        self.upgrade = False  # the request being parsed asks for a websocket
        self.reject: tuple[int, str] | None = None  # why a callback stopped the parser
        self.refusal: tuple[int, str] | None = None  # an error answer waiting for the requests before it
        self.ended = False  # no more requests are read: the last one said close, or the parser failed
        self.waiting: collections.deque[Request] = collections.deque()
        self.busy = False  # an ASGI request is running
        self.task: asyncio.Task[None] | None = None
        self.later: Later | None = None  # a fast answer still to come
        self.exchange: Exchange | None = None
        self.closing = False
        self.gone = False  # connection_lost has run
        self.last_active = time.monotonic()
        self.writable = asyncio.Event()
        self.writable.set()
        self.client: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None
        self.held: list[bytes] = []  # answers not written yet (`HttpServer.hold`)
        self.socket: WebSocket | None = None  # once upgraded to a websocket

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
        if not self.server.connections:
            self.server.stirred.set()  # the sweep was resting
        self.server.connections.add(self)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        # On a Unix socket the peer has no address ("") and the local one is a path: neither is a pair.
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self.local = (str(local[0]), int(local[1])) if isinstance(local, tuple) else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.socket is not None:
            self.socket.lost()
        self.closing = self.gone = True
        self.waiting.clear()
        self.held.clear()
        if self.exchange is not None:
            self.exchange.end()
            if self.server.cancel_on_disconnect and self.task is not None and not self.exchange.finished:
                self.task.cancel()
        if self.later is not None:
            later, self.later = self.later, None
            if self.server.cancel_on_disconnect:
                later.cancel()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def receive(self, data: bytes) -> None:
        """A read of the connection (`data_received`, after the relay if there is one)."""
        if self.socket is not None:
            self.socket.receive(data)
            return
        # After a request that ends the connection (or a refused one) nothing more is parsed: a response
        # may already have closed the transport, and llhttp calls any byte after `Connection: close` an
        # error. A refused connection lingers here, dropping what the client still sends.
        if self.ended or self.transport.is_closing():
            return
        now = self.last_active = time.monotonic()
        n = len(data)
        if self.in_head and not self.head_size and data.find(b"\r\n\r\n") + 4 == n <= self.max_head:
            # The usual read: one whole head (of a request with no body), and nothing after it: within
            # `max_head`, and parsed whole here, so there is no partial head to count or time.
            if self.parse_head is not None and self._usual_head(data):
                return
            try:
                self.parser.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
                self._parser_stopped(exc, data)
            return
        # The parser gets each head on its own, up to its blank line, so the bytes of every head are
        # counted exactly before llhttp (and httptools, which gathers a header field until it is
        # complete) holds them; a body of known length is fed up to its end for the same reason.
        start = 0
        while start < n:
            if self.in_head:
                end = self._head_end(data, start)
                stop = n if end < 0 else end
                size = self.head_size + stop - start
                if size > self.max_head:
                    self._refuse_large_head(data, start)
                    return
                if not self.head_size:
                    self.head_began = now
                self.head_size = size
                if end < 0:
                    self.head_tail = (self.head_tail + data[max(start, n - 3) :])[-3:]
            elif self.length > self.size:
                stop = min(n, start + self.length - self.size)
            else:
                self._chunked(data, start, now)
                return
            if not self._feed(data if start == 0 and stop == n else memoryview(data)[start:stop]):
                return
            start = stop

    def _usual_head(self, data: bytes) -> bool:
        """A head of the usual shape (`dream.http.headparse`), parsed in one C call and answered as
        `on_message_complete` answers; False leaves it to httptools."""
        assert self.parse_head is not None
        request = self.parse_head(
            data, Request, self.server.max_request_line, self.max_header_line, self.max_headers
        )
        if request is None:
            return False
        self.request = request  # a body-less, kept-alive HTTP/1.1 request: nothing more to check
        if self.busy or self.waiting:
            self.waiting.append(request)
            self.transport.pause_reading()
        else:
            self._dispatch(request)
        return True

    def _head_end(self, data: bytes, start: int) -> int:
        """Where the head being read ends in `data` (just past its blank line), or -1."""
        if start == 0 and self.head_size:
            tail = self.head_tail
            at = (tail + data[:3]).find(b"\r\n\r\n")
            if at >= 0:
                return at + 4 - len(tail)
        end = data.find(b"\r\n\r\n", start)
        return end + 4 if end >= 0 else -1

    def _refuse_large_head(self, data: bytes, start: int) -> None:
        """The head being read goes past `max_head`: the parser gets what fits, so that a more precise
        refusal (414 for the target, 431 for one field, 400) has its say; then 431."""
        fits = self.server.max_head - self.head_size
        if fits > 0 and not self._feed(memoryview(data)[start : start + fits]):
            return
        self._head_too_large()

    def _head_too_large(self) -> None:
        self._fail(431, self._head_too_large_message())

    def _head_too_large_message(self) -> str:
        return (
            f"request head too large: the request line and header fields are over "
            f"{self.server.max_head} bytes (max_head); send fewer or smaller headers"
        )

    def _head_bytes(self) -> int:
        """The size of the head just parsed, from its parts (as written with no optional spaces)."""
        line = len(self.parser.get_method()) + len(self.url) + len(" HTTP/1.1\r\n") + 1
        return line + sum(len(name) + len(value) + 4 for name, value in self.request.headers) + 2

    def _chunked(self, data: bytes, start: int, now: float) -> None:
        """The rest of a read that starts in a chunked body: fed whole (where the body ends is known
        only to the parser). Heads that follow the body in it are measured from their fields
        (`unmeasured`), and the bytes after the last one are counted as the start of the next head."""
        size = self.size
        self.unmeasured = True
        try:
            if not self._feed(data if start == 0 else memoryview(data)[start:]):
                return
        finally:
            self.unmeasured = False
        if self.in_head:
            # A chunked body ends with a blank line and a head has none before its end: the bytes after
            # the last blank line are the next head's so far.
            last = data.rfind(b"\r\n\r\n", start)
            begun = last + 4 if last >= 0 else start
            self.head_size = len(data) - begun
            if self.head_size:
                self.head_began = now
                self.head_tail = data[max(begun, len(data) - 3) :]
                if self.head_size > self.server.max_head:
                    self._head_too_large()
        elif self.size == size:
            # No body data in this read: chunk framing and trailers only. Bound them like a head (a
            # chunk extension or a trailer field is gathered whole by the parser).
            self.stall += len(data) - start
            if self.stall > self.server.max_head:
                self._fail(
                    431,
                    f"chunked body framing or trailers too large: over {self.server.max_head} bytes "
                    "without body data (max_head)",
                )
        else:
            self.stall = 0

    def _feed(self, data: bytes | memoryview) -> bool:
        """Parse `data`; False once the connection reads no more requests."""
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            return self._parser_stopped(exc, data)
        return not self.ended and not self.transport.is_closing()

    def _parser_stopped(self, exc: Exception, data: bytes | memoryview) -> bool:
        """The parser stopped inside `data`: an upgrade (refused, or ignored and parsing goes on after
        it) or an error; False once the connection reads no more requests."""
        if isinstance(exc, httptools.HttpParserUpgrade):
            if self.upgrade:
                if self.server.upgrade is None:
                    self._fail(501, "protocol upgrades (websockets) are not supported here")
                else:
                    self._take_upgrade(bytes(data[exc.args[0] :]) if exc.args else b"")
                return False
            # Another upgrade (h2c): the request was served as plain HTTP/1.1, as RFC 9110 allows;
            # httptools has resumed, go on with what follows it.
            rest = data[exc.args[0] :] if exc.args else b""
            if rest and not self.ended and not self.transport.is_closing():
                return self._feed(rest)
            return not self.ended and not self.transport.is_closing()
        if not self.ended:  # else: bytes after `Connection: close`, ignored
            # A callback error is one of ours (`reject`) or an unparsable URL.
            self._fail(*(self.reject or (400, f"malformed HTTP request: {exc}")))
        return False

    def _take_upgrade(self, rest: bytes) -> None:
        """A websocket upgrade the server may take: no more HTTP requests on this connection; the
        server's `upgrade` decides (in a task: it may look things up) to refuse it or to switch."""
        self.ended = True
        request = self.request
        problem = handshake_problem(request)
        if problem or not self.idle:
            self._fail(400, problem or "a websocket upgrade must not follow pipelined requests")
            return
        self.transport.pause_reading()
        self.busy = True
        self.task = asyncio.get_running_loop().create_task(self._upgrade(request, rest))

    async def _upgrade(self, request: Request, rest: bytes) -> None:
        assert self.server.upgrade is not None
        try:
            found = await self.server.upgrade(request)
        except Exception:
            log.exception("websocket upgrade of %s failed", request.path)
            found = (500, "Internal Server Error")
        self.busy = False
        self.task = None
        if self.transport.is_closing():
            return
        if isinstance(found, tuple):
            self._refuse(*found)
            return
        self.socket = WebSocket(self.transport, found, _peer(self.client))
        self.socket.accept(request, rest)
        self.transport.resume_reading()

    def refuse_slow_head(self) -> None:
        """The head being read has taken longer than `head_timeout` (a client dripping it)."""
        self._fail(
            408,
            f"request head not complete {self.server.head_timeout:g} s after its first byte "
            "(head_timeout); send the request line and headers at once",
        )

    # -- httptools callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.request = Request()
        self.url = b""
        self.body = []
        self.size = 0
        self.host = False
        self.expect_continue = False
        self.upgrade = False

    def on_url(self, url: bytes) -> None:
        # Called as the target arrives (httptools does not gather it), so the limit holds while parsing.
        self.url += url
        if len(self.url) > self.url_room:
            method = self.parser.get_method()
            if len(method) + len(self.url) > self.server.max_request_line:
                self._reject(
                    414,
                    f"request target too long: the method and target are over "
                    f"{self.server.max_request_line} bytes (max_request_line); send a shorter URL "
                    "(large data belongs in the body)",
                )

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        headers = self.request.headers
        if (
            len(name) + len(value) > self.max_header_line
            or len(headers) >= self.max_headers
            or not self.in_head
        ):
            self._unusual_header(name, value)
            return
        headers.append((name, value))
        if name == b"host":
            if self.host:  # RFC 9110 7.2: a request with more than one Host is invalid
                self._reject(400, "more than one Host header: send exactly one")
            self.host = True
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True

    def _unusual_header(self, name: bytes, value: bytes) -> None:
        """A header field over a limit (refused), or a trailer field of a chunked body: held to the same
        limits, then dropped (RFC 9110 6.5.1: trailers are not merged into the header section)."""
        what = "trailer" if not self.in_head else "header"
        size = len(name) + len(value)
        if size > self.server.max_header_line:
            self._reject(
                431,
                f"{what} field `{_shown(name)}` too large: {size} bytes of name and value, over "
                f"{self.server.max_header_line} (max_header_line)",
            )
        if self.in_head:
            self._reject(
                431,
                f"too many header fields: over {self.server.max_headers} (max_headers); send fewer",
            )
        self.trailers += 1
        if self.trailers > self.server.max_headers:
            self._reject(431, f"too many trailer fields: over {self.server.max_headers} (max_headers)")

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.head_size:  # counted over several reads (the usual single read counts nothing)
            self.head_size = 0
            self.head_tail = b""
        if self.unmeasured and self._head_bytes() > self.server.max_head:
            self._reject(431, self._head_too_large_message())
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
        self.length = int(length) if length is not None and length.strip().isdigit() else -1
        if self.length < 0:
            self.trailers = self.stall = 0
        if self.length > MAX_BODY:
            self._reject(413, f"request body larger than {MAX_BODY} bytes")
        if self.expect_continue and request.http_version == "1.1" and not self.upgrade:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_BODY:  # a chunked body has no length up front
            self._reject(413, f"request body larger than {MAX_BODY} bytes")
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_head = True
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
                if type(answer) is tuple:
                    self.respond(request, *answer)
                    return
                # Answered later, from a callback: the requests after it wait as for the ASGI app.
                self.busy = True
                self.later = answer  # type: ignore[assignment]
                answer.attach(self, request)  # type: ignore[union-attr]
                return
        self.busy = True
        self.task = asyncio.get_running_loop().create_task(self._run_app(request))

    def answer_later(self, request: Request, status: int, headers: Headers, body: bytes) -> None:
        """The answer of a `Later` fast answer: written as any other, then the next requests go on."""
        if self.later is None:
            return  # the client went away meanwhile
        self.later = None
        self.respond(request, status, headers, body)
        self._next()

    def to_app(self, request: Request) -> None:
        """A `Later` fast answer gives its request to the ASGI app after all."""
        if self.later is None:
            return
        self.later = None
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
        key: tuple[Any, ...] | None = (status, *headers)
        try:
            fields = _HEADS.get(key)  # type: ignore[arg-type]
        except TypeError:  # a header given as a list, not a tuple: answered, not kept
            key = fields = None
        if fields is not None:
            if keep and not head_only and request.http_version == "1.1" and status != 204 and status != 304:
                # The usual answer (a kept head, a body, the connection kept): one formatting, no list.
                if not self.held:
                    self.server.hold(self)
                self.held.append(b"%bcontent-length: %d\r\n\r\n%b" % (fields, len(body), body))
                self.last_active = time.monotonic()
                return
            head = [fields]
        else:
            head = [status_line(status)]
            framing = False
            for name, value in headers:
                low = name.lower()
                if low in _FRAMING:
                    framing = True
                    if low == b"connection" and b"close" in value.lower():
                        keep = False
                    elif low == b"content-length" and head_only:
                        length = value  # a HEAD answer says how long the GET body would be
                    continue
                head += [name, b": ", value, b"\r\n"]
            if headers and unsafe_fields(head):
                safe = safe_fields(headers, request)
                if len(safe) < len(headers):
                    self.respond(request, status, safe, body)
                    return
            if key is not None and not framing and len(_HEADS) < HEADS_KEPT:
                _HEADS[key] = b"".join(head)
        if status not in (204, 304):
            head += [b"content-length: ", length or str(len(body)).encode(), b"\r\n"]
        if not keep:
            head.append(b"connection: close\r\n")
        elif request.http_version == "1.0":
            head.append(b"connection: keep-alive\r\n")  # else an HTTP/1.0 client waits for the close
        head.append(b"\r\n")
        if not head_only and status not in (204, 304):
            head.append(body)
        data = b"".join(head)
        if keep:
            if not self.held:
                self.server.hold(self)
            self.held.append(data)
        else:
            self.write(data)
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
        """Write the error answer, then end the connection: our side at once; the client's after it has
        had `linger` seconds to read the answer. Closing a socket with input still unread makes the
        kernel reset the connection, and a client still sending (a large head) would see the reset
        instead of the answer; so that input is read and dropped meanwhile (`data_received`)."""
        transport = self.transport
        if transport.is_closing():
            return
        log.info("refused a request from %s with %s: %s", _peer(self.client), status, message)
        body = message.encode()
        self.write(
            status_line(status)
            + b"content-type: text/plain; charset=utf-8\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        if self.server.linger and transport.can_write_eof():
            transport.write_eof()
            self.linger_until = time.monotonic() + self.server.linger  # then `HttpServer._sweep` ends it
            transport.resume_reading()  # paused if the refusal waited for requests before it
        else:
            transport.close()

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
                if self.head_size:  # a head began while reading was paused: its clock starts now
                    self.head_began = time.monotonic()
                self.transport.resume_reading()

    async def _run_app(self, request: Request) -> None:
        exchange = self.exchange = Exchange(self, request)
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
