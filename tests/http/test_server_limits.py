"""dream.http.server's limits over real sockets: the request line, header fields, the whole head, the
header count, a duplicate Host, the header deadline, and response headers that must never be written.

Each limit is tried just under (served) and just over (refused with its status, then the connection
closes and the server goes on serving). Servers run in a thread with their own event loop, uvloop (as in
production) and plain asyncio. Waits are bounded: socket timeouts and polls with a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from dream.daemon.ports import free_port
from dream.http import server as httpserver
from dream.http.message import Answer, Request
from dream.http.server import (
    MAX_HEAD,
    MAX_HEADER_LINE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    HttpServer,
)
from dream.node.runtime import bind_tcp
from dream.testing.harness import wait_for

TIMEOUT = 5.0
MB = 1024 * 1024


def echo(request: Request) -> Answer | None:
    """The fast handler: answers every path but /app* with the method, path and header count."""
    if request.path.startswith("/app"):
        return None
    return (
        200,
        [(b"content-type", b"text/plain")],
        f"{request.method} {request.path} {len(request.headers)}".encode(),
    )


class Served:
    """An HttpServer on a free 127.0.0.1 port, in a thread running its own event loop."""

    def __init__(self, loop: str, **limits: Any) -> None:
        self.app: Callable[[Any, Any, Any], Any] | None = None
        self.server = HttpServer(self._app, fast=echo, **limits)
        self.loop_kind = loop
        self.loop_errors: list[dict[str, Any]] = []
        self.port = free_port()
        self.sock = bind_tcp(self.port)
        self.thread = threading.Thread(target=self._main, name=f"limits-{loop}", daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), "the server to start")
        assert self.server.started, "the server did not start"

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, f"no ASGI app for {scope['path']}"
        await self.app(scope, receive, send)

    def _main(self) -> None:
        factory = uvloop.new_event_loop if self.loop_kind == "uvloop" else asyncio.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.get_loop().set_exception_handler(lambda _loop, ctx: self.loop_errors.append(ctx))
            runner.run(self.server.serve([self.sock]))

    def raw(self) -> Raw:
        return Raw(self.port)

    def ping(self, path: str = "/ping") -> None:
        """A fresh connection is served: the server is alive and its loop is free."""
        with self.raw() as conn:
            conn.send(get(path))
            reply = conn.read()
            assert (reply.status, reply.body.split(b" ")[:2]) == (200, [b"GET", path.encode()]), reply

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)
        self.sock.close()
        assert not self.thread.is_alive(), "serve() did not return after should_exit"
        assert not self.loop_errors, f"the event loop reported errors: {self.loop_errors}"


class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], head: bytes) -> None:
        self.status = status
        self.headers = headers
        self.head = head  # the raw head, as it came on the wire
        self.body = b""

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return values[0] if values else None


class Raw:
    """A client socket that speaks HTTP/1.1 by hand."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.file = self.sock.makefile("rb")

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, method: str = "GET") -> Reply:
        line = self.file.readline()
        if not line:
            raise EOFError("the server closed the connection")
        head = [line]
        reply = Reply(int(line.split(b" ")[1]), [], b"")
        while (line := self.file.readline()) not in (b"\r\n", b""):
            head.append(line)
            name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
            reply.headers.append((name.strip().lower(), value.strip()))
        reply.head = b"".join(head)
        if method != "HEAD" and reply.status not in (204, 304):
            reply.body = self.file.read(int(reply.header("content-length") or 0))
        return reply

    def expect_eof(self, within: float = TIMEOUT) -> None:
        """The server closes the connection within `within` seconds, with nothing more to read."""
        self.sock.settimeout(within)
        try:
            rest = self.file.read()
        except ConnectionResetError:
            rest = b""
        except TimeoutError:
            pytest.fail(f"the connection is still open after {within} s")
        assert rest == b"", f"unexpected bytes before the end of the connection: {rest[:200]!r}"


def rss() -> int:
    """This process's resident memory, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def get(path: str, *headers: str, host: bool = True) -> bytes:
    lines = [f"GET {path} HTTP/1.1", *(["host: test"] if host else []), *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def refused(served: Served, request: bytes, status: int, words: str, *, pieces: int = 1) -> Reply:
    """`request` (sent in `pieces` writes) is refused with `status` and a body saying `words`; the
    connection ends, and the server serves a new one."""
    with served.raw() as conn:
        step = -(-len(request) // pieces)
        for at in range(0, len(request), step):
            conn.send(request[at : at + step])
        reply = conn.read()
        assert reply.status == status, (reply.status, reply.body)
        assert reply.header("connection") == "close"
        assert words in reply.body.decode(), reply.body
        conn.expect_eof()
    served.ping()
    return reply


def served_ok(served: Served, request: bytes, *, pieces: int = 1) -> Reply:
    with served.raw() as conn:
        step = -(-len(request) // pieces)
        for at in range(0, len(request), step):
            conn.send(request[at : at + step])
        reply = conn.read()
        assert reply.status == 200, (reply.status, reply.body)
        return reply


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def defaults(loop_kind: str) -> Iterator[Served]:
    """A server with the default limits, shared by the tests of one loop kind."""
    served = Served(loop_kind)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def start(loop_kind: str) -> Iterator[Callable[..., Served]]:
    """Starts a server with limits of its own, stopped at the end of the test."""
    started: list[Served] = []

    def start(**limits: Any) -> Served:
        served = Served(loop_kind, **limits)
        started.append(served)
        return served

    try:
        yield start
    finally:
        for served in started:
            served.stop()


# -- the request line ------------------------------------------------------------------------------------


def target(size: int) -> str:
    return "/t" + "x" * (size - 2)


def test_request_line_at_the_limit_is_served_and_over_it_is_a_414(defaults: Served) -> None:
    at_limit = target(MAX_REQUEST_LINE - len("GET"))  # the limit counts method and target
    reply = served_ok(defaults, get(at_limit))
    assert reply.body.startswith(f"GET {at_limit} ".encode())
    reply = refused(defaults, get(at_limit + "y"), 414, f"over {MAX_REQUEST_LINE} bytes (max_request_line)")
    assert reply.body.startswith(b"request target too long")
    # The method counts: the same target is too long for a longer method.
    refused(defaults, get(at_limit).replace(b"GET ", b"POST ", 1), 414, "request target too long")


def test_a_huge_target_is_refused_as_it_arrives(defaults: Served) -> None:
    # Four times the limit in small writes (under max_head): the 414 comes while the target arrives.
    with defaults.raw() as conn:
        conn.send(b"GET /")
        for _ in range(4 * MAX_REQUEST_LINE // 4096):
            conn.send(b"x" * 4096)
        reply = conn.read()
        assert reply.status == 414 and b"request target too long" in reply.body
        conn.expect_eof()
    defaults.ping()


# -- header fields -----------------------------------------------------------------------------------------


def field(name: str, size: int) -> str:
    """A header line whose name and value are `size` bytes together."""
    return f"{name}: " + "v" * (size - len(name))


def test_header_field_at_the_limit_is_served_and_over_it_is_a_431(defaults: Served) -> None:
    served_ok(defaults, get("/f", field("x-big", MAX_HEADER_LINE)))
    reply = refused(
        defaults,
        get("/f", field("x-big", MAX_HEADER_LINE + 1)),
        431,
        f"header field `x-big` too large: {MAX_HEADER_LINE + 1} bytes of name and value, "
        f"over {MAX_HEADER_LINE} (max_header_line)",
    )
    assert reply.body.decode().startswith("header field")


def test_header_count_at_the_limit_is_served_and_over_it_is_a_431(defaults: Served) -> None:
    extra = [f"x-h{i}: {i}" for i in range(MAX_HEADERS - 1)]  # and Host: MAX_HEADERS fields
    reply = served_ok(defaults, get("/n", *extra))
    assert reply.body == f"GET /n {MAX_HEADERS}".encode()
    refused(
        defaults,
        get("/n", *extra, "x-one-more: 1"),
        431,
        f"too many header fields: over {MAX_HEADERS} (max_headers)",
    )


def big_head(size: int, path: str = "/h") -> bytes:
    """A request whose head (request line to blank line) is exactly `size` bytes, in fields of half
    the per-field limit or so (a field line is its name and value plus 4 bytes: `: ` and CRLF)."""
    extra = size - len(get(path))
    count = -(-extra // (MAX_HEADER_LINE // 2))
    lines = [extra // count] * count
    lines[-1] += extra - sum(lines)
    request = get(path, *(field(f"x-f{i}", line - 4) for i, line in enumerate(lines)))
    assert len(request) == size, (len(request), size)
    return request


@pytest.mark.parametrize("pieces", [1, 7, 1000])
def test_head_at_the_limit_is_served_and_over_it_is_a_431(defaults: Served, pieces: int) -> None:
    # In one write, and in many (the blank line split across writes at some point).
    served_ok(defaults, big_head(MAX_HEAD), pieces=pieces)
    refused(defaults, big_head(MAX_HEAD + 1), 431, f"over {MAX_HEAD} bytes (max_head)", pieces=pieces)


def test_the_blank_line_split_across_writes_ends_the_head(defaults: Served) -> None:
    request = big_head(MAX_HEAD)
    for split in range(1, 5):  # every place inside the final CRLF CRLF
        with defaults.raw() as conn:
            conn.send(request[:-split])
            conn.send(request[-split:])
            assert conn.read().status == 200


def test_each_head_of_a_pipeline_is_counted_on_its_own(defaults: Served) -> None:
    # Together far over MAX_HEAD, each under it: all served, in one write.
    near = big_head(MAX_HEAD - 10, "/near")
    with defaults.raw() as conn:
        conn.send(b"".join([get(f"/p{i}") for i in range(3000)] + [near, near, get("/last")]))
        bodies = [conn.read().body.split(b" ")[1] for _ in range(3003)]
    assert bodies == [f"/p{i}".encode() for i in range(3000)] + [b"/near", b"/near", b"/last"]


def test_bodies_are_not_counted_as_heads(defaults: Served) -> None:
    body = b"b\r\n\r\n" * (MAX_HEAD // 2)  # blank lines in a body end no head
    post = b"POST /post HTTP/1.1\r\nhost: test\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
    chunked = (
        b"POST /chunked HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"%x\r\n%b\r\n0\r\nx-trailer: t\r\n\r\n" % (len(body), body)
    )
    near = big_head(MAX_HEAD - 10, "/near")
    with defaults.raw() as conn:
        conn.send(post + near + chunked + near + post + get("/last"))
        paths = [conn.read().body.split(b" ")[1] for _ in range(6)]
    assert paths == [b"/post", b"/near", b"/chunked", b"/near", b"/post", b"/last"]


def test_a_head_over_the_limit_right_after_a_chunked_body_is_refused(defaults: Served) -> None:
    # Where the chunked body ends is the parser's to find: the head after it is measured all the same.
    chunked = (
        b"POST /chunked HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    with defaults.raw() as conn:
        conn.send(chunked + big_head(MAX_HEAD + 1))
        assert conn.read().body.startswith(b"POST /chunked")
        reply = conn.read()
        assert reply.status == 431 and b"request head too large" in reply.body
        conn.expect_eof()


def test_trailers_are_held_to_the_limits_and_not_taken_as_headers(defaults: Served) -> None:
    seen: list[Request] = []
    chunked = b"POST /t HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
    original = defaults.server.fast
    defaults.server.fast = lambda request: seen.append(request) or echo(request)
    try:
        served_ok(defaults, chunked + b"host: evil\r\nx-trailer: 1\r\n\r\n")
    finally:
        defaults.server.fast = original
    [request] = seen
    assert request.body == b"abc"
    assert request.header(b"x-trailer") is None and request.headers.count((b"host", b"test")) == 1
    refused(
        defaults, chunked + field("x-t", MAX_HEADER_LINE + 1).encode() + b"\r\n\r\n", 431, "trailer field"
    )
    many = b"".join(b"x-t%d: 1\r\n" % i for i in range(MAX_HEADERS + 1))
    refused(defaults, chunked + many + b"\r\n", 431, "too many trailer fields")


def test_chunk_framing_without_data_is_bounded(defaults: Served) -> None:
    # A chunk extension (or a trailer) that never ends: refused once it passes max_head.
    head = b"POST /x HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n5;ext="
    with defaults.raw() as conn:
        conn.send(head)
        for _ in range(4 * MAX_HEAD // 4096):
            conn.send(b"e" * 4096)
        reply = conn.read()
        assert reply.status == 431 and b"chunked body framing or trailers too large" in reply.body
    defaults.ping()


# -- Host ----------------------------------------------------------------------------------------------------


def test_a_duplicate_host_is_a_400(defaults: Served) -> None:
    served_ok(defaults, get("/one-host"))
    reply = refused(defaults, get("/two", "Host: other"), 400, "more than one Host header")
    assert reply.body == b"more than one Host header: send exactly one"
    refused(defaults, get("/two", "host: test"), 400, "more than one Host header")


# -- a huge head -------------------------------------------------------------------------------------------


def test_a_100_mb_header_is_refused_as_it_arrives_while_others_are_served(defaults: Served) -> None:
    """The 431 comes long before the 100 MB are sent; another connection is served while they are
    still arriving; and none of it is kept."""
    block = b"x" * MB
    total = 100 * MB
    before = rss()
    with defaults.raw() as big:
        big.send(b"GET /big HTTP/1.1\r\nhost: test\r\nx-big: ")
        sent = 0
        for _ in range(4):  # 4 MB, far past the limit
            big.send(block)
            sent += len(block)
        # The answer is there already, with 96 MB still to send: decided while parsing.
        reply = big.read()
        assert reply.status == 431 and b"request head too large" in reply.body
        # The rest keeps coming (the server reads and drops it for a while, so the client gets to read
        # the answer); other connections are served in between.
        try:
            while sent < total:
                for _ in range(8):
                    big.send(block)
                    sent += len(block)
                defaults.ping(f"/meanwhile/{sent // MB}")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its linger is over
        big.expect_eof()
    # `copy` (one C call) takes the set whole, while the server's thread changes it.
    wait_for(
        lambda: not [c for c in defaults.server.connections.copy() if c.linger_until],
        "the refused connection to be closed",
        timeout=TIMEOUT,
    )
    defaults.ping()
    grown = rss() - before  # this process: the server's thread and the client's
    assert grown < 32 * MB, f"the process grew by {grown // MB} MB after a refused 100 MB header"


# -- the header deadline ------------------------------------------------------------------------------------


def test_a_dripping_client_is_closed_at_the_header_deadline(start: Callable[..., Served]) -> None:
    served = start(head_timeout=1.0)
    with served.raw() as conn:
        began = time.monotonic()
        conn.send(b"GET /drip HTTP/1.1\r\nhost: test\r\n")
        conn.sock.settimeout(0.2)
        lines = 0
        reply = None
        while time.monotonic() - began < 10:  # bounded: the deadline is 1 s
            try:
                answered = conn.sock.recv(1, socket.MSG_PEEK)
            except TimeoutError:
                conn.send(f"x-drip-{lines}: 1\r\n".encode())  # one header line per 0.2 s, never done
                lines += 1
                continue
            assert answered, "closed without an answer"
            conn.sock.settimeout(TIMEOUT)
            reply = conn.read()
            break
        assert reply is not None, "no answer within 10 s"
        assert time.monotonic() - began >= 1.0  # not before its deadline
        assert reply.status == 408
        assert b"request head not complete 1 s after its first byte (head_timeout)" in reply.body
        conn.expect_eof()
    served.ping()


def test_a_slow_head_within_the_deadline_and_an_idle_connection_are_served(
    start: Callable[..., Served],
) -> None:
    served = start(head_timeout=0.5, keep_alive=30.0)
    with served.raw() as conn:
        conn.send(get("/first"))
        assert conn.read().status == 200
        # Idle past the head deadline: the keep-alive timeout applies, not the head deadline.
        conn.sock.settimeout(1.5)
        with pytest.raises(TimeoutError):
            conn.sock.recv(1, socket.MSG_PEEK)
        conn.sock.settimeout(TIMEOUT)
        for part in (b"GET /slow HTTP/1.1\r\n", b"host: test\r\n", b"x-a: 1\r\n", b"\r\n"):
            conn.send(part)
            time.sleep(0.05)  # a head in pieces, well within its 0.5 s: the subject of this test
        assert conn.read().body.startswith(b"GET /slow")


@pytest.mark.parametrize(
    "limit", ["keep_alive", "max_request_line", "max_header_line", "max_headers", "max_head", "head_timeout"]
)
def test_limits_must_be_positive(limit: str) -> None:
    with pytest.raises(ValueError, match=f"HttpServer {limit} must be a positive number, not 0"):
        HttpServer(lambda *a: None, **{limit: 0})


# -- response headers with CR, LF or NUL never reach the wire ------------------------------------------------

BAD = [
    (b"x-ok", b"fine"),
    (b"x-crlf", b"a\r\nset-cookie: evil=1"),
    (b"x-lf", b"a\nset-cookie: evil=2"),
    (b"x-cr", b"a\rset-cookie: evil=3"),
    (b"x-nul", b"a\x00evil=4"),
    (b"x-evil\r\nset-cookie", b"evil=5"),
]


def no_bad_header(reply: Reply) -> None:
    assert reply.header("x-ok") == "fine"
    assert b"evil" not in reply.head and b"set-cookie" not in reply.head, reply.head
    assert [name for name, _ in reply.headers if name.startswith("x-")] == ["x-ok"]


@pytest.mark.parametrize("how", ["fast", "whole", "streamed"])
def test_a_header_with_cr_lf_or_nul_is_never_written(
    defaults: Served, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": BAD})
        if how == "streamed":
            await send({"type": "http.response.body", "body": b"part ", "more_body": True})
        await send({"type": "http.response.body", "body": b"body"})

    def fast(request: Request) -> Answer | None:
        if request.path == "/after":
            return echo(request)
        return (200, BAD, b"body") if how == "fast" else None

    defaults.app = app
    original = defaults.server.fast
    defaults.server.fast = fast
    try:
        with caplog.at_level(logging.ERROR, logger="dream.http"), defaults.raw() as conn:
            conn.send(get(f"/app/{how}"))
            reply = conn.read()
            if how == "streamed":
                assert reply.header("transfer-encoding") == "chunked"
                assert conn.file.read(len(b"5\r\npart \r\n4\r\nbody\r\n0\r\n\r\n")) == (
                    b"5\r\npart \r\n4\r\nbody\r\n0\r\n\r\n"
                )
            else:
                assert reply.body == b"body"
            no_bad_header(reply)
            conn.send(get("/after"))  # the connection goes on
            assert conn.read().body.startswith(b"GET /after")
    finally:
        defaults.server.fast = original
        defaults.app = None
    dropped = [r.getMessage() for r in caplog.records if "dropped the response header" in r.getMessage()]
    assert len(dropped) == 5, dropped
    assert all(f"of GET /app/{how}" in line for line in dropped), dropped


def test_clean_answers_are_not_checked_field_by_field(
    defaults: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole head is checked at once; the per-field pass only runs when that check finds a stray
    # line end, so every shape of head must add up: with and without a body, content-length and a
    # connection line.
    calls: list[int] = []
    check = httpserver.safe_fields
    monkeypatch.setattr(
        httpserver, "safe_fields", lambda headers, request: calls.append(1) or check(headers, request)
    )

    def fast(request: Request) -> Answer:
        status = int(request.path[1:]) if request.path[1:].isdigit() else 200
        return status, [(b"x-a", b"1"), (b"x-b", b"two words")], b"" if status in (204, 304) else b"body"

    original = defaults.server.fast
    defaults.server.fast = fast
    try:
        with defaults.raw() as conn:
            conn.send(
                get("/a")
                + get("/204")
                + get("/304")
                + get("/head").replace(b"GET", b"HEAD", 1)
                + get("/old", "connection: keep-alive").replace(b"HTTP/1.1", b"HTTP/1.0", 1)
                + get("/last", "connection: close")
            )
            replies = []
            for method in ["GET", "GET", "GET", "HEAD", "GET", "GET"]:
                reply = conn.read(method)
                assert reply.header("x-b") == "two words"
                replies.append((reply.status, reply.body))
            assert replies == [
                (200, b"body"),
                (204, b""),
                (304, b""),
                (200, b""),
                (200, b"body"),
                (200, b"body"),
            ]
            conn.expect_eof()
    finally:
        defaults.server.fast = original
    assert calls == []
