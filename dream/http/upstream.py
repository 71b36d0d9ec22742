"""A small HTTP/1.1 client for a reverse proxy (the gateway): keep-alive connections per upstream,
asyncio Protocols and httptools' response parser, one write per request and whole responses in memory.

httpx costs the gateway more per request than the substrate spends serving it; this does only what a
loopback reverse proxy needs. The caller frames nothing itself: it passes the request headers without
hop-by-hop ones (`connection`, `content-length`, `transfer-encoding`, ...) and already validated, as an
HTTP server's parser hands them over; the pool adds `content-length` when there is a body.

An upstream is (host, port) on TCP, or (path, port) when `host` is a Unix socket path (it starts with
"/"): the same HTTP for less kernel work per write and read; `port` then only names the upstream.

Errors: `UpstreamConnectError` (nothing was sent; `refused` when nothing listens), `UpstreamDropped`
(the connection ended after the request was sent, before a whole response), `UpstreamProtocolError` (a
kind of `UpstreamDropped`: the answer is not HTTP the parser accepts), `UpstreamTimeout` (no byte of the
response for a while; a connect that takes too long is an `UpstreamConnectError`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from httptools import HttpParserCallbackError, HttpParserError, HttpResponseParser

from dream.http import headparse
from dream.http.message import Headers

Response = tuple[int, Headers, bytes]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# Methods that carry a body by definition get `content-length: 0` when it is empty.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# A server closing an idle connection sends its FIN before it ever reads our request: that EOF comes
# within a round trip. One later than this means the server had the request and died on it.
STALE_WINDOW = 1.0
# How often, per read timeout, the pool looks for connections that went quiet.
SWEEPS = 4


class UpstreamError(Exception):
    """The upstream did not give a whole response."""


class UpstreamConnectError(UpstreamError):
    """Refused, unreachable or too slow to accept: the request was not sent. `refused` when the
    upstream's system said nothing listens there (the one sign that the upstream is down)."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class UpstreamDropped(UpstreamError):
    """The connection closed or broke after the request was sent, before a whole response came."""


class UpstreamProtocolError(UpstreamDropped):
    """The upstream answered something that is not HTTP/1.x; the connection is dropped."""


class UpstreamTimeout(UpstreamError):
    """No byte of the response came for `read_timeout` seconds."""


class _SkipBody(Exception):
    """Raised from the parser's callback to stop at the end of a HEAD response's headers."""


class _Unasked(Exception):
    """Raised from the parser's callback when a second response starts where one was asked for."""


class Reply:
    """What `UpstreamPool.send_idle` answers through instead of a future: `done(response, None)` or
    `done(None, error)`, called at once from the connection's callbacks (no future, no loop pass)."""

    __slots__ = ("finished", "on_done")

    def __init__(self, on_done: Callable[[Response | None, UpstreamError | None], None]) -> None:
        self.on_done = on_done
        self.finished = False

    def done(self) -> bool:
        return self.finished

    def set_result(self, response: Response) -> None:
        self.finished = True
        self.on_done(response, None)

    def set_exception(self, error: UpstreamError) -> None:
        self.finished = True
        self.on_done(None, error)


Waiter = asyncio.Future[Response] | Reply


class Sent(Protocol):
    """What `UpstreamPool.dropped_early` reads of a connection a request went on."""

    @property
    def received(self) -> bool: ...  # a byte of the answer came

    @property
    def sent_at(self) -> float: ...  # time.monotonic() when the request went


class _Connection(asyncio.Protocol):
    """One upstream connection, carrying one request at a time."""

    __slots__ = (
        "body",
        "closed",
        "head",
        "headers",
        "keep",
        "key",
        "loop",
        "parse_response",
        "parser",
        "pool",
        "progress",
        "quiet",
        "received",
        "sent_at",
        "status",
        "transport",
        "waiter",
    )

    def __init__(self, pool: UpstreamPool, key: tuple[str, int]) -> None:
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.transport: Any = None
        self.parser = HttpResponseParser(self)
        self.parse_response = pool.parse_response
        self.waiter: Waiter | None = None
        self.status = 0
        self.headers: Headers = []
        self.body: list[bytes] = []
        self.head = False
        self.keep = False
        self.closed = False
        self.received = False  # a byte of the current response came
        self.progress = False  # a byte came (or the request went) since the pool's sweep last looked
        self.quiet = 0  # sweeps in a row that saw no byte
        self.sent_at = 0.0

    # -- the pool's side -------------------------------------------------------------------------

    def send(self, data: bytes, head: bool, reply: Reply | None = None) -> Waiter | None:
        """Write one request; None when the connection is known to be gone and nothing was written."""
        transport = self.transport
        if self.closed or transport.is_closing():
            return None
        self.waiter = waiter = reply if reply is not None else self.loop.create_future()
        self.head = head
        self.status = 0
        self.received = False
        self.headers = []
        self.body = []
        transport.write(data)
        if transport.is_closing():
            # The first send failed (the peer was gone): the kernel took none of the request.
            self.waiter = None
            return None
        self.sent_at = time.monotonic()  # the C relay's clock too (`dream.gateway.relay`)
        self.progress = True
        self.quiet = 0
        self.pool._watch(self)
        return waiter

    def give_up(self, waiter: Waiter) -> None:
        """The caller stopped waiting (cancelled): a response half-read leaves the stream unusable."""
        if self.waiter is waiter:
            self.waiter = None
            self.pool._busy.discard(self)
            self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio's side --------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            # Bytes nobody asked for: the stream is out of step, never reuse it.
            self.abort()
            self.pool._forget(self)
            return
        fresh = not self.received
        self.received = self.progress = True
        if fresh and not self.head and self.parse_response is not None:
            # The usual answer, whole in one read: parsed in one C call (`dream.http.headparse`).
            parsed = self.parse_response(data)
            if parsed is not None:
                self.status, self.headers, body = parsed
                self.body = [body]
                self.keep = True  # HTTP/1.1 with a length and no Connection field
                self._finish()
                return
        try:
            self.parser.feed_data(data)
        except HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _SkipBody):
                self.parser = HttpResponseParser(self)  # the old one waits for a body that never comes
                self._finish()
            elif isinstance(exc.__context__, _Unasked):
                # Bytes after the response: the stream is out of step, never reuse it.
                self.abort()
                self.pool._forget(self)
            else:
                self._fail(UpstreamProtocolError(f"bad response from {self._where()}: {exc!r}"))
        except HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"bad response from {self._where()}: {exc}"))

    def eof_received(self) -> bool | None:
        self._lost(None)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    # -- httptools' callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is None:
            raise _Unasked

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.head and self.status >= 200:
            self.keep = self.parser.should_keep_alive() or self._declares_keep_alive()
            raise _SkipBody

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.status < 200:
            # An informational answer (100 Continue): the real one follows on the same stream.
            self.headers = []
            self.body = []
            return
        self.keep = self.parser.should_keep_alive()
        self._finish()

    # -- internals -------------------------------------------------------------------------------

    def _finish(self) -> None:
        waiter = self.waiter
        self.waiter = None
        self.pool._busy.discard(self)
        if waiter is None or waiter.done():
            self.abort()  # the caller gave up on it
            return
        waiter.set_result((self.status, self.headers, b"".join(self.body)))
        # Free for the next request now: the result holds this response's lists, `send` makes new ones.
        self.pool._release(self)

    def _fail(self, error: UpstreamError) -> None:
        waiter = self.waiter
        self.waiter = None
        self.pool._busy.discard(self)
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _lost(self, exc: Exception | None) -> None:
        if self.closed and self.waiter is None:
            return
        self.closed = True
        if self.waiter is None:
            self.pool._forget(self)
            return
        if self.status >= 200 and self._body_until_close():
            self.keep = False
            self._finish()
            return
        reason = f": {exc}" if exc else ""
        self._fail(UpstreamDropped(f"{self._where()} closed the connection before a whole response{reason}"))

    def _body_until_close(self) -> bool:
        """Whether the body has neither length nor chunks: then the close ends the response (the
        caller checked that its headers came: the status is only set then)."""
        if self.status in (204, 304):
            return False
        return all(name not in (b"content-length", b"transfer-encoding") for name, _ in self.headers)

    def _declares_keep_alive(self) -> bool:
        # For HEAD, llhttp thinks a lengthless response needs the close; the connection header decides.
        if self.parser.get_http_version() == "1.1":
            return all(not (n == b"connection" and v.lower() == b"close") for n, v in self.headers)
        return any(n == b"connection" and v.lower() == b"keep-alive" for n, v in self.headers)

    def _where(self) -> str:
        return where(*self.key)


class UpstreamPool:
    """Keep-alive HTTP/1.1 connections to upstreams, reused newest first."""

    def __init__(
        self, *, max_idle_per_host: int = 64, connect_timeout: float = 2.0, read_timeout: float = 60.0
    ) -> None:
        self.max_idle_per_host = max_idle_per_host
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.loop = asyncio.get_running_loop()
        # The usual response parsed in one C call (None: every response goes through httptools).
        self.parse_response = headparse.response_parser()
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        # Connections waiting for a response, and the one timer that looks at them all: a timer per
        # request (call_later, then cancel: ~2 us on uvloop) costs about as much as the rest of the
        # pool's own work on a request.
        self._busy: set[_Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self.opened = 0  # connections opened so far, for tests and diagnostics

    async def request(
        self, host: str, port: int, method: str, target: bytes, headers: Headers, body: bytes = b""
    ) -> Response:
        """Send one request; (status, headers with lower-case names, body)."""
        if self._closed:
            raise UpstreamConnectError("the pool is closed")
        data = _serialize(method, target, headers, body)
        key = (host, port)
        head = method == "HEAD"
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            waiter = conn.send(data, head)
            if not isinstance(waiter, asyncio.Future):
                continue  # closed while idle; nothing was written, so any method may go elsewhere
            try:
                return await waiter
            except UpstreamDropped:
                # A stale connection the server closed as we wrote: retry once, on a new connection,
                # only for a method that may run twice and only if the failure came at once.
                if (
                    conn.received
                    or method not in IDEMPOTENT
                    or time.monotonic() - conn.sent_at > STALE_WINDOW
                ):
                    raise
            except BaseException:
                conn.give_up(waiter)
                raise
            break
        conn = await self._connect(key)
        waiter = conn.send(data, head)
        if not isinstance(waiter, asyncio.Future):  # nothing was sent: as good as refused
            raise UpstreamConnectError(f"{where(host, port)} closed a new connection before the request")
        try:
            return await waiter
        except BaseException:
            conn.give_up(waiter)
            raise

    def send_idle(
        self, host: str, port: int, method: str, target: bytes, headers: Headers, body: bytes, reply: Reply
    ) -> _Connection | None:
        """Send one request on an idle kept-alive connection, with no coroutine: its response (or error,
        as `request` would raise it) goes to `reply`. The connection, or None when no idle connection
        took it (nothing was sent). No stale-connection retry here: on `UpstreamDropped` the caller
        decides (`dropped_early`); a caller that stops waiting calls `conn.give_up(reply)`."""
        idle = self._idle.get((host, port))
        if not idle or self._closed:
            return None
        data = _serialize(method, target, headers, body)
        head = method == "HEAD"
        while idle:
            conn = idle.pop()
            if conn.send(data, head, reply) is not None:
                return conn
        return None

    def dropped_early(self, conn: Sent, method: str) -> bool:
        """Whether a request that `conn` dropped may be sent again: the stale-connection case `request`
        retries (no byte came, the method may run twice, the close came at once)."""
        return not conn.received and method in IDEMPOTENT and time.monotonic() - conn.sent_at <= STALE_WINDOW

    def adopt(self, transport: Any, host: str, port: int, reply: Reply, sent_at: float) -> _Connection:
        """A connection to (`host`, `port`) another client (the gateway's C relay) sent a request on, whose
        answer is not of the shape that client reads: this pool's from now on, its answer (fed by the
        caller) going to `reply`, then kept or closed as any other."""
        conn = _Connection(self, (host, port))
        conn.transport = transport
        transport.set_protocol(conn)
        conn.waiter = reply
        conn.sent_at = sent_at
        conn.progress = True
        self._watch(conn)
        return conn

    def idle(self, host: str, port: int) -> int:
        return len(self._idle.get((host, port), ()))

    async def __aenter__(self) -> UpstreamPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the idle connections; those in use close when their response is read."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            for conn in idle:
                conn.closed = True
                conn.transport.close()
        self._idle.clear()
        await asyncio.sleep(0)  # lets the transports call connection_lost

    # -- internals -------------------------------------------------------------------------------

    async def _connect(self, key: tuple[str, int]) -> _Connection:
        host, port = key
        try:
            _, conn = await asyncio.wait_for(
                connect(self.loop, lambda: _Connection(self, key), host, port), self.connect_timeout
            )
        except TimeoutError:
            raise UpstreamConnectError(
                f"cannot connect to {where(host, port)}: no answer within {self.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            # The system's words for the errno: uvloop and asyncio phrase the same refusal differently.
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise UpstreamConnectError(
                f"cannot connect to {where(host, port)}: {reason}", refused=refused(exc)
            ) from None
        self.opened += 1
        return conn

    def _release(self, conn: _Connection) -> None:
        """A connection whose response was read whole: kept for the next request, or closed."""
        if conn.keep and not conn.closed and not self._closed:
            idle = self._idle.get(conn.key)
            if idle is None:
                idle = self._idle[conn.key] = []
            if len(idle) < self.max_idle_per_host:
                idle.append(conn)
                return
        conn.closed = True
        conn.transport.close()

    def _forget(self, conn: _Connection) -> None:
        """An idle connection closed by the server leaves the idle list at once."""
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def _watch(self, conn: _Connection) -> None:
        self._busy.add(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self.read_timeout / SWEEPS, self._sweep)

    def _sweep(self) -> None:
        # A connection times out after SWEEPS sweeps in a row without a byte: between 1 and
        # 1 + 1/SWEEPS times `read_timeout` after the last one.
        self._sweeper = None
        for conn in list(self._busy):
            if conn.progress:
                conn.progress = False
                conn.quiet = 0
                continue
            conn.quiet += 1
            if conn.quiet >= SWEEPS:
                conn._fail(
                    UpstreamTimeout(f"{conn._where()} sent nothing for {self.read_timeout:g}s of a response")
                )
        if self._busy:
            self._sweeper = self.loop.call_later(self.read_timeout / SWEEPS, self._sweep)


async def connect(
    loop: asyncio.AbstractEventLoop, protocol: Callable[[], Any], host: str, port: int
) -> tuple[Any, Any]:
    """(transport, protocol) of a new connection to (host, port): a Unix socket when `host` is a path."""
    if is_unix(host):
        return await loop.create_unix_connection(protocol, host)
    transport, made = await loop.create_connection(protocol, host, port)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Small requests and answers on a kept-alive connection must not wait for Nagle.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return transport, made


def is_unix(host: str) -> bool:
    """Whether an upstream's `host` is a Unix socket path rather than an IP address."""
    return host.startswith("/")


def where(host: str, port: int) -> str:
    """An upstream as messages name it: host:port, or the Unix socket's path."""
    return host if is_unix(host) else f"{host}:{port}"


def refused(exc: OSError) -> bool:
    """Whether a failed connect means nothing listens there: refused, or (a Unix socket) no such path,
    which a stopped node leaves behind once it removed its socket."""
    return isinstance(exc, (ConnectionRefusedError, FileNotFoundError))


def _serialize(method: str, target: bytes, headers: Headers, body: bytes) -> bytes:
    """The request as one buffer: one write, one segment for a small request."""
    lines = b"\r\n".join(map(b": ".join, headers))
    length = b"content-length: %d\r\n" % len(body) if body or method in BODY_METHODS else b""
    return b"".join(
        (
            method.encode(),
            b" ",
            target,
            b" HTTP/1.1\r\n",
            lines,
            b"\r\n" if lines else b"",
            length,
            b"\r\n",
            body,
        )
    )
