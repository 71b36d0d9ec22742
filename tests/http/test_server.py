"""dream.http.server over real sockets: the fast path, the ASGI path and the HTTP/1.1 edge cases.

Each server runs in a thread with its own event loop (uvloop, as in production, and plain asyncio). Most
tests share one server per loop and swap its `fast` handler and ASGI app; those that need their own
settings (idle timeout, graceful stop) start one. Waits are bounded: socket timeouts and polls with a
deadline, never a sleep that hopes something has happened.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import pytest
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from dream.daemon.ports import free_port
from dream.http import server as httpserver
from dream.http.message import Answer, Request, status_line
from dream.http.server import HttpServer
from dream.node.runtime import bind_tcp
from dream.testing import harness

App = Callable[[Any, Any, Any], Any]
Fast = Callable[[Request], Answer | None]

TIMEOUT = 5.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


wait_for = functools.partial(harness.wait_for, timeout=TIMEOUT, every=0.002)


async def not_found(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"no app for this test"})


class Served:
    """An HttpServer on a free 127.0.0.1 port, in a thread running its own event loop."""

    def __init__(self, loop: str, *, keep_alive: float = 30.0, **limits: Any) -> None:
        self.fast: Fast | None = None
        self.app: App = not_found
        self.server = HttpServer(self._app, fast=self._fast, keep_alive=keep_alive, **limits)
        self.loop_kind = loop
        self.loop_errors: list[dict[str, Any]] = []
        self.failure: BaseException | None = None
        self.port = free_port()
        self.sock = bind_tcp(self.port)
        self.thread = threading.Thread(target=self._main, name=f"httpserver-{loop}", daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), "the server to start")
        if self.failure is not None:
            raise self.failure

    def _fast(self, request: Request) -> Answer | None:
        return self.fast(request) if self.fast is not None else None

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def _main(self) -> None:
        factory = uvloop.new_event_loop if self.loop_kind == "uvloop" else asyncio.new_event_loop
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.get_loop().set_exception_handler(lambda _loop, ctx: self.loop_errors.append(ctx))
                runner.run(self.server.serve([self.sock]))
        except BaseException as exc:
            self.failure = exc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        # One TLS context for all (never used: plain http), as making one costs ~50 ms per client.
        return httpx.Client(base_url=self.url, timeout=TIMEOUT, trust_env=False, verify=tls_context())

    def raw(self) -> Raw:
        return Raw(self.port)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.stop()
        self.thread.join(timeout)
        self.sock.close()  # the server closes it; this is for a server that never started
        assert not self.thread.is_alive(), "serve() did not return after should_exit"
        if self.failure is not None:
            raise self.failure

    def check(self) -> None:
        errors, self.loop_errors[:] = list(self.loop_errors), []
        assert not errors, f"the event loop reported errors: {errors}"


@dataclass
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False

    def header(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, f"{name} given {len(values)} times: {self.headers}"
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


class Raw:
    """A client socket that speaks HTTP/1.x by hand."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_head(self) -> Reply:
        line = self.file.readline()
        if not line:
            raise EOFError("the server closed the connection")
        version, status, reason = line.rstrip(b"\r\n").decode("latin-1").split(" ", 2)
        assert version == "HTTP/1.1", line
        reply = Reply(int(status), reason)
        while True:
            line = self.file.readline()
            assert line, "the connection closed in the middle of a head"
            if line == b"\r\n":
                return reply
            name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
            reply.headers.append((name.strip().lower(), value.strip()))

    def read(self, method: str = "GET") -> Reply:
        reply = self.read_head()
        length = reply.header("content-length")
        if method == "HEAD" or reply.status in (204, 304) or reply.status < 200:
            return reply
        if reply.header("transfer-encoding") == "chunked":
            assert length is None, "both content-length and chunked"
            reply.chunked = True
            parts = []
            while True:
                size = int(self.file.readline().strip().split(b";")[0], 16)
                data = self.file.read(size + 2)
                assert data.endswith(b"\r\n"), data
                if size == 0:
                    break
                parts.append(data[:-2])
            reply.body = b"".join(parts)
        elif length is not None:
            reply.body = self.file.read(int(length))
        else:
            reply.body = self.file.read()  # delimited by the end of the connection
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


def get(path: str, *headers: str, method: str = "GET", version: str = "1.1", body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "host: test", *headers]
    if body:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def echo_fast(request: Request) -> Answer | None:
    """Answers every path but /app* with the path, so responses say which request they answer."""
    if request.path.startswith("/app"):
        return None
    return 200, [(b"content-type", b"text/plain")], f"{request.method} {request.path}".encode()


async def slow_app(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(0.05)  # slow on purpose: requests pipelined behind it must wait their turn
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"app {scope['path']}".encode()})


# -- fixtures ------------------------------------------------------------------------------------------


class Stoppable(Protocol):
    def stop(self) -> None: ...


Running = TypeVar("Running", bound=Stoppable)


def stopped_after(running: Running) -> Iterator[Running]:
    """A fixture's body: `running` for the test(s), stopped after them even when they fail."""
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def shared(request: pytest.FixtureRequest) -> Iterator[Served]:
    yield from stopped_after(Served(request.param))


@pytest.fixture
def served(shared: Served) -> Iterator[Served]:
    shared.fast, shared.app = None, not_found
    shared.check()
    yield shared
    shared.fast, shared.app = None, not_found
    shared.check()


@pytest.fixture
def start(shared: Served) -> Iterator[Callable[..., Served]]:
    """Starts a server of its own (same kind of loop as `shared`), stopped at the end of the test."""
    started: list[Served] = []

    def start(**kwargs: Any) -> Served:
        served = Served(shared.loop_kind, **kwargs)
        started.append(served)
        return served

    try:
        yield start
    finally:
        for served in started:
            served.stop()
        for served in started:
            served.check()


@pytest.fixture
def raw(served: Served) -> Iterator[Raw]:
    with served.raw() as conn:
        yield conn


# -- the fast path -------------------------------------------------------------------------------------


def test_status_line() -> None:
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert status_line(599) == b"HTTP/1.1 599 \r\n"


def test_fast_handler_answers(served: Served) -> None:
    seen: list[Request] = []

    def fast(request: Request) -> Answer:
        seen.append(request)
        return 201, [(b"content-type", b"text/x-fast"), (b"x-fast", b"yes")], b"made " + request.body

    served.fast = fast
    with served.client() as client:
        response = client.post("/things?a=1", content=b"a thing", headers={"X-Mixed-Case": "Value"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "text/x-fast"
    assert response.headers["x-fast"] == "yes"
    assert response.headers["content-length"] == str(len(b"made a thing"))
    assert response.content == b"made a thing"
    [request] = seen
    assert (request.method, request.path, request.query, request.http_version) == (
        "POST",
        "/things",
        b"a=1",
        "1.1",
    )
    assert request.body == b"a thing"
    assert request.keep_alive
    assert request.header(b"x-mixed-case") == b"Value"


def test_path_is_percent_decoded_query_raw_and_header_names_lower_case(served: Served, raw: Raw) -> None:
    seen: list[Request] = []
    served.fast = lambda request: seen.append(request) or (200, [], b"ok")
    raw.send(get("/a%20b/%C3%A9t%C3%A9/c%2Fd?x=%20y&z=%C3%A9#frag", "X-Custom-Header: Some Value"))
    assert raw.read().body == b"ok"
    [request] = seen
    assert request.path == "/a b/\u00e9t\u00e9/c/d"
    assert request.raw_path == b"/a%20b/%C3%A9t%C3%A9/c%2Fd"
    assert request.query == b"x=%20y&z=%C3%A9"
    assert (b"x-custom-header", b"Some Value") in request.headers
    assert all(name == name.lower() for name, _ in request.headers)
    assert request.header(b"host") == b"test"
    raw.send(b"GET http://test HTTP/1.1\r\nhost: test\r\n\r\n")  # absolute form, no path
    assert raw.read().body == b"ok"
    assert (seen[1].path, seen[1].raw_path, seen[1].query) == ("/", b"/", b"")


def test_keep_alive_answers_in_order_on_one_connection(served: Served, raw: Raw) -> None:
    served.fast = echo_fast
    for i in range(3):  # one after the other
        raw.send(get(f"/one/{i}"))
        reply = raw.read()
        assert (reply.status, reply.body) == (200, f"GET /one/{i}".encode())
        assert reply.header("connection") is None
    raw.send(b"".join(get(f"/many/{i}") for i in range(20)))  # pipelined, in one write
    assert [raw.read().body for _ in range(20)] == [f"GET /many/{i}".encode() for i in range(20)]
    raw.send(get("/still-open"))
    assert raw.read().body == b"GET /still-open"


class RecordingTransport:
    """Just enough of a transport for a Connection driven by hand: records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1)

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_answers_of_one_loop_pass_are_written_together() -> None:
    """Requests read in one pass of the loop are answered in one write per connection, once the pass has
    answered them all: the client is woken once, not once per answer."""

    async def scenario() -> tuple[list[list[bytes]], list[list[bytes]]]:
        server = HttpServer(not_found, fast=echo_fast)
        server.loop = asyncio.get_running_loop()
        connections = [httpserver.Connection(server) for _ in range(2)]
        for connection in connections:
            connection.connection_made(RecordingTransport())
        for n, connection in enumerate(connections):
            connection.data_received(get(f"/c{n}/1") + get(f"/c{n}/2"))
        before = [list(c.transport.writes) for c in connections]
        await asyncio.sleep(0)  # the rest of this pass of the loop
        return before, [c.transport.writes for c in connections]

    before, after = asyncio.run(scenario())
    assert before == [[], []]
    for n, writes in enumerate(after):
        assert len(writes) == 1
        assert writes[0].count(b"HTTP/1.1 200 OK") == 2
        assert writes[0].index(f"GET /c{n}/1".encode()) < writes[0].index(f"GET /c{n}/2".encode())


def test_held_answers_go_before_anything_written_after_them(with_starlette: Served) -> None:
    # A closing request behind a held answer: both answers, in order, then the end.
    with with_starlette.raw() as raw:
        raw.send(get("/held") + get("/last", "Connection: close"))
        assert [raw.read().body for _ in range(2)] == [b"GET /held", b"GET /last"]
        raw.expect_eof()
    # `100 Continue` for a request pipelined behind a held answer comes after that answer.
    with with_starlette.raw() as second:
        second.send(
            get("/held")
            + b"POST /app/echo HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n"
        )
        assert second.read().status == 200
        assert second.read_head().status == 100
        second.send(b"hello")
        assert second.read().body == b"hello"


def test_request_split_across_writes(served: Served, raw: Raw) -> None:
    served.fast = lambda request: (200, [], request.path.encode() + b" " + request.body)
    data = get("/split/path", "x-a: b", method="POST", body=b"0123456789")
    for i in range(0, len(data), 7):
        raw.send(data[i : i + 7])
    assert raw.read().body == b"/split/path 0123456789"


@pytest.mark.parametrize("name", [b"content-length", b"Content-Length"])
def test_content_length_is_the_servers_own(served: Served, raw: Raw, name: bytes) -> None:
    served.fast = lambda request: (200, [(name, b"999"), (b"x-after", b"1")], b"four")
    raw.send(get("/") + get("/again"))
    for _ in range(2):
        reply = raw.read()
        assert reply.all("content-length") == ["4"]
        assert reply.body == b"four"
        assert reply.header("x-after") == "1"


def test_framing_headers_of_the_fast_handler_are_dropped(served: Served, raw: Raw) -> None:
    served.fast = lambda request: (200, [(b"Transfer-Encoding", b"chunked")], b"whole")
    raw.send(get("/") + get("/"))
    for _ in range(2):
        reply = raw.read()
        assert reply.header("transfer-encoding") is None
        assert (reply.header("content-length"), reply.body) == ("5", b"whole")


def test_head_has_content_length_but_no_body(served: Served, raw: Raw) -> None:
    served.fast = lambda request: (200, [(b"content-type", b"text/plain")], b"hello")
    raw.send(get("/", method="HEAD") + get("/after"))
    head = raw.read("HEAD")
    assert (head.status, head.header("content-length"), head.body) == (200, "5", b"")
    after = raw.read()  # no stray body bytes in between
    assert after.body == b"hello"


def test_head_keeps_the_handlers_content_length_when_it_gives_no_body(served: Served, raw: Raw) -> None:
    served.fast = lambda request: (200, [(b"content-length", b"1234")], b"")
    raw.send(get("/", method="HEAD") + get("/", method="HEAD"))
    for _ in range(2):
        assert raw.read("HEAD").all("content-length") == ["1234"]


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_and_not_modified_have_no_length_nor_body(served: Served, raw: Raw, status: int) -> None:
    served.fast = lambda request: (status, [(b"content-length", b"5"), (b"etag", b'"x"')], b"hello")
    raw.send(get("/") + get("/"))
    for _ in range(2):
        reply = raw.read()
        assert reply.status == status
        assert reply.header("content-length") is None
        assert reply.header("etag") == '"x"'
    raw.send(get("/"))  # nothing stray was written: the next response starts right away
    assert raw.read().status == status


def test_fast_handler_raising_is_a_500(served: Served, raw: Raw, caplog: pytest.LogCaptureFixture) -> None:
    def fast(request: Request) -> Answer | None:
        if request.path == "/boom":
            raise ValueError("boom")
        return echo_fast(request)

    served.fast = fast
    with caplog.at_level(logging.ERROR, logger="dream.http"):
        raw.send(get("/boom"))
        reply = raw.read()
    assert (reply.status, reply.body) == (500, b"Internal Server Error")
    assert "fast handler failed on GET /boom" in caplog.text
    raw.send(get("/fine"))
    assert raw.read().body == b"GET /fine"


def test_fast_handler_informational_status_is_not_a_final_answer(
    served: Served, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    served.fast = lambda request: (100, [], b"") if request.path == "/hundred" else echo_fast(request)
    with caplog.at_level(logging.ERROR, logger="dream.http"):
        raw.send(get("/hundred") + get("/next"))
        assert raw.read().status == 500
    assert raw.read().body == b"GET /next"


# -- the ASGI path ---------------------------------------------------------------------------------------


def starlette_app(tmp_path: Path) -> Starlette:
    async def as_json(request: StarletteRequest) -> Response:
        return JSONResponse({"path": request.url.path, "q": request.query_params.get("q")})

    async def stream(request: StarletteRequest) -> Response:
        async def parts() -> Any:
            for i in range(5):
                await asyncio.sleep(0)  # a yield to the loop between parts, not a wait
                yield f"part {i}\n".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    async def big(request: StarletteRequest) -> Response:
        async def parts() -> Any:
            for i in range(64):
                yield bytes([i]) * 65536

        return StreamingResponse(parts(), media_type="application/octet-stream")

    async def a_file(request: StarletteRequest) -> Response:
        return FileResponse(tmp_path / "data.bin", media_type="application/octet-stream")

    async def echo(request: StarletteRequest) -> Response:
        body = await request.body()
        return Response(body, headers={"x-sha": hashlib.sha256(body).hexdigest()})

    return Starlette(
        routes=[
            Route("/app/json", as_json),
            Route("/app/stream", stream),
            Route("/app/big", big),
            Route("/app/file", a_file, methods=["GET", "HEAD"]),
            Route("/app/echo", echo, methods=["POST"]),
        ]
    )


@pytest.fixture
def with_starlette(served: Served, tmp_path: Path) -> Served:
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 1000)  # 256 kB: several 64 kB chunks
    served.fast = echo_fast
    served.app = starlette_app(tmp_path)
    return served


def test_fast_handler_declining_leaves_the_request_to_the_app(with_starlette: Served) -> None:
    with with_starlette.client() as client:
        response = client.get("/app/json", params={"q": "a b"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"path": "/app/json", "q": "a b"}
        assert client.get("/fast").text == "GET /fast"
        assert client.get("/app/missing").status_code == 404


def test_streaming_response_is_chunked(with_starlette: Served) -> None:
    with with_starlette.raw() as raw:
        raw.send(get("/app/stream") + get("/after"))
        reply = raw.read()
        assert reply.chunked
        assert reply.header("content-length") is None
        assert reply.body == b"".join(f"part {i}\n".encode() for i in range(5))
        assert raw.read().body == b"GET /after"
    with with_starlette.client() as client:
        response = client.get("/app/stream")
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.text == "".join(f"part {i}\n" for i in range(5))
        big = client.get("/app/big")  # more than the socket buffers: the server waits while it is full
        assert big.content == b"".join(bytes([i]) * 65536 for i in range(64))


def test_streaming_to_http10_is_delimited_by_the_end_of_the_connection(with_starlette: Served) -> None:
    with with_starlette.raw() as raw:
        raw.send(get("/app/stream", "connection: keep-alive", version="1.0"))
        reply = raw.read()
        assert not reply.chunked  # an HTTP/1.0 client does not know chunked encoding
        assert reply.header("connection") == "close"
        assert reply.body == b"".join(f"part {i}\n".encode() for i in range(5))


def test_file_response(with_starlette: Served, tmp_path: Path) -> None:
    data = (tmp_path / "data.bin").read_bytes()
    with with_starlette.client() as client:
        response = client.get("/app/file")
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(data))
        assert "transfer-encoding" not in response.headers
        assert response.content == data
        head = client.head("/app/file")
        assert head.headers["content-length"] == str(len(data))
        assert head.content == b""
        assert client.get("/fast").text == "GET /fast"  # the connection is still in step


def test_request_bodies_reach_the_app_whole(with_starlette: Served) -> None:
    payload = bytes(range(256)) * 4000  # 1 MB
    with with_starlette.client() as client:
        response = client.post("/app/echo", content=payload)
        assert response.headers["x-sha"] == hashlib.sha256(payload).hexdigest()
        assert response.content == payload

        def parts() -> Iterator[bytes]:
            for i in range(0, len(payload), 100_000):
                yield payload[i : i + 100_000]

        response = client.post("/app/echo", content=parts())  # no length: chunked
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.content == payload
    with with_starlette.raw() as raw:
        raw.send(
            b"POST /app/echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nx-trailer: 1\r\n\r\n" + get("/after")
        )
        assert raw.read().body == b"hello world"
        assert raw.read().body == b"GET /after"


def test_raw_asgi_app_scope(served: Served, raw: Raw) -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        message = await receive()
        body = json.dumps({"type": message["type"], "body": message["body"].decode()}).encode()
        await send({"type": "http.response.start", "status": 202, "headers": [(b"X-Upper", b"1")]})
        await send({"type": "http.response.body", "body": body})

    served.app = app
    raw.send(get("/a%2Fb%20c?x=1&y=%20", "X-Thing: One", method="PUT", body=b"payload"))
    reply = raw.read()
    assert reply.status == 202
    assert reply.header("x-upper") == "1"
    assert json.loads(reply.body) == {"type": "http.request", "body": "payload"}
    [scope] = scopes
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert (scope["method"], scope["path"], scope["raw_path"]) == ("PUT", "/a/b c", b"/a%2Fb%20c")
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "http"
    assert scope["server"] == ("127.0.0.1", served.port)
    assert scope["client"] == raw.sock.getsockname()
    assert (b"x-thing", b"One") in scope["headers"]


def test_app_without_a_body_message_ends_with_an_empty_body(served: Served, raw: Raw) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body"})

    served.app = app
    raw.send(get("/app") + get("/app"))
    for _ in range(2):
        reply = raw.read()
        assert (reply.status, reply.all("content-length"), reply.body) == (200, ["0"], b"")


def test_receive_after_the_body_reports_the_disconnect(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    waiting = threading.Event()
    messages: list[str] = []
    sent: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        messages.append((await receive())["type"])
        waiting.set()
        messages.append((await receive())["type"])
        messages.append((await receive())["type"])  # and again: it stays disconnected
        try:  # a response nobody will read is dropped quietly
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"late", "more_body": True})
            await send({"type": "http.response.body", "body": b"later"})
            sent.append("ok")
        except Exception as exc:
            sent.append(repr(exc))

    served.app = app
    raw = served.raw()
    with caplog.at_level(logging.ERROR, logger="dream.http"):
        raw.send(get("/app/wait", body=b"x"))
        assert waiting.wait(TIMEOUT)
        raw.close()
        wait_for(lambda: len(sent) == 1, "the app to finish")
    assert messages == ["http.request", "http.disconnect", "http.disconnect"]
    assert sent == ["ok"]
    assert not caplog.records
    served.app = not_found
    with served.client() as client:
        assert client.get("/next").status_code == 404  # the server goes on


def test_receive_after_the_response_returns_disconnect(served: Served, raw: Raw) -> None:
    messages: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        messages.append((await asyncio.wait_for(receive(), TIMEOUT))["type"])

    served.app = app
    raw.send(get("/app"))
    assert raw.read().body == b"done"
    wait_for(lambda: bool(messages), "the app to receive again")
    assert messages == ["http.disconnect"]


def test_a_cancelled_receive_does_not_spoil_the_next_request(served: Served, raw: Raw) -> None:
    """Starlette's StreamingResponse listens for the disconnect in a task it cancels once the response
    is sent; the next request on the connection must still be able to wait for its own."""
    heard: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        listener = asyncio.ensure_future(receive())
        await asyncio.sleep(0)  # a yield: the listener starts waiting
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        listener.cancel()
        try:
            heard.append((await receive())["type"])
        except BaseException as exc:
            heard.append(repr(exc))

    served.app = app
    raw.send(get("/app/1"))
    assert raw.read().body == b"part"
    raw.send(get("/app/2"))
    assert raw.read().body == b"part"
    wait_for(lambda: len(heard) == 2, "both requests to end")
    assert heard == ["http.disconnect", "http.disconnect"]


def test_pipelined_requests_answered_in_order(served: Served, raw: Raw) -> None:
    served.fast = echo_fast
    served.app = slow_app
    raw.send(get("/app/slow") + get("/fast/1") + get("/fast/2"))
    assert [raw.read().body for _ in range(3)] == [b"app /app/slow", b"GET /fast/1", b"GET /fast/2"]
    # Many behind a slow one: the server stops reading while they wait, then reads again.
    raw.send(b"".join(get("/app/s" if i % 20 == 0 else f"/f/{i}") for i in range(60)))
    expected = [b"app /app/s" if i % 20 == 0 else f"GET /f/{i}".encode() for i in range(60)]
    assert [raw.read().body for _ in range(60)] == expected
    raw.send(get("/fast/last"))
    assert raw.read().body == b"GET /fast/last"


def test_app_raising_before_the_response_is_a_500(
    served: Served, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/app/boom":
            raise RuntimeError("boom")
        if scope["path"] == "/app/silent":
            return  # no response at all
        await slow_app(scope, receive, send)

    served.fast = echo_fast
    served.app = app
    with caplog.at_level(logging.ERROR, logger="dream.http"):
        raw.send(get("/app/boom") + get("/app/silent") + get("/after"))
        assert raw.read().status == 500
        assert raw.read().status == 500
        assert raw.read().body == b"GET /after"  # the connection goes on
    assert "error while serving GET /app/boom" in caplog.text
    with served.client() as client:
        assert client.get("/app/fine").text == "app /app/fine"


def test_app_raising_mid_response_closes_the_connection(
    served: Served, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        raise RuntimeError("mid-way")

    served.app = app
    with caplog.at_level(logging.ERROR, logger="dream.http"):
        raw.send(get("/app"))
        reply = raw.read_head()
        assert reply.header("transfer-encoding") == "chunked"
        raw.file.readline()
        assert raw.file.readline() == b"half\r\n"
        raw.expect_eof()  # no terminating chunk: the client can tell the response is cut short


def test_app_informational_status_is_refused(
    served: Served, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 101, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    served.app = app
    with caplog.at_level(logging.ERROR, logger="dream.http"):
        raw.send(get("/app"))
        assert raw.read().status == 500


# -- connection management -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/fast", "/app/slow"])
def test_connection_close(served: Served, raw: Raw, path: str) -> None:
    served.fast = echo_fast
    served.app = slow_app
    raw.send(get(path, "Connection: close"))
    reply = raw.read()
    assert reply.status == 200
    assert reply.header("connection") == "close"
    raw.expect_eof()


def test_data_after_connection_close_is_ignored(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    served.fast = echo_fast
    served.app = slow_app
    for first in ("/fast", "/app/slow"):
        with served.raw() as raw, caplog.at_level(logging.WARNING):
            raw.send(get(first, "Connection: close") + get("/more") + get("/app/more"))
            reply = raw.read()
            assert reply.body.endswith(first.encode())
            assert reply.header("connection") == "close"
            raw.expect_eof()
    assert not caplog.records
    served.check()


def test_app_asking_to_close(served: Served, raw: Raw) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"Connection", b"close")]})
        await send({"type": "http.response.body", "body": b"bye"})

    served.app = app
    raw.send(get("/app"))
    reply = raw.read()
    assert (reply.all("connection"), reply.body) == (["close"], b"bye")
    raw.expect_eof()


def test_http10_closes_unless_kept_alive(served: Served) -> None:
    served.fast = echo_fast
    served.app = slow_app
    for path in ("/fast", "/app/slow"):
        with served.raw() as raw:
            raw.send(get(path, version="1.0"))
            reply = raw.read()
            assert reply.body.endswith(path.encode())
            assert reply.header("connection") == "close"
            raw.expect_eof()
        with served.raw() as raw:
            for i in range(3):
                raw.send(get(f"{path}/{i}", "Connection: keep-alive", version="1.0"))
                reply = raw.read()
                assert reply.body.endswith(f"{path}/{i}".encode())
                assert reply.header("connection") == "keep-alive"  # an HTTP/1.0 client needs to be told


@pytest.mark.parametrize("path", ["/fast", "/app/echo"])
def test_expect_100_continue(with_starlette: Served, path: str) -> None:
    with with_starlette.raw() as raw:
        raw.send(
            b"POST "
            + path.encode()
            + b" HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n"
        )
        interim = raw.read_head()
        assert (interim.status, interim.reason, interim.headers) == (100, "Continue", [])
        raw.send(b"hello")
        reply = raw.read()
        assert reply.status == 200
        assert reply.body == (b"hello" if path == "/app/echo" else b"POST /fast")
    with with_starlette.client() as client:  # httpx sends no Expect, but the answer is the same
        assert client.post("/app/echo", content=b"x", headers={"expect": "100-continue"}).content == b"x"


def test_malformed_request_is_a_400(served: Served, raw: Raw) -> None:
    served.fast = echo_fast
    raw.send(b"\x00\x01 this is not HTTP\r\n\r\n")
    reply = raw.read()
    assert reply.status == 400
    assert reply.header("connection") == "close"
    assert reply.body.startswith(b"malformed HTTP request")
    raw.expect_eof()
    with served.client() as client:
        assert client.get("/other").text == "GET /other"


def test_malformed_request_after_a_slow_one_is_refused_in_turn(served: Served, raw: Raw) -> None:
    served.fast = echo_fast
    served.app = slow_app
    raw.send(get("/app/slow") + get("/fast") + b"BAD REQUEST LINE\r\n\r\n")
    assert raw.read().body == b"app /app/slow"
    assert raw.read().body == b"GET /fast"
    assert raw.read().status == 400
    raw.expect_eof()


def test_websocket_upgrade_is_a_501(served: Served, raw: Raw) -> None:
    seen: list[str] = []
    served.fast = lambda request: seen.append(request.path) or echo_fast(request)
    raw.send(
        get("/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13")
        + b"\x81\x05hello"
    )
    reply = raw.read()
    assert reply.status == 501
    assert reply.header("connection") == "close"
    assert b"websocket" in reply.body
    raw.expect_eof()
    assert seen == []  # the request itself went nowhere
    with served.client() as client:
        assert client.get("/other").text == "GET /other"


def test_other_upgrades_are_ignored(served: Served, raw: Raw) -> None:
    served.fast = echo_fast
    raw.send(
        get(
            "/h2c",
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA",
        )
    )
    assert raw.read().body == b"GET /h2c"  # answered over HTTP/1.1, as if it had not asked
    raw.send(get("/next"))
    assert raw.read().body == b"GET /next"


@pytest.mark.parametrize("how", ["content-length", "chunked", "expect"])
def test_body_larger_than_max_body_is_refused(
    served: Served, raw: Raw, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(httpserver, "MAX_BODY", 1000)
    seen: list[str] = []
    served.fast = lambda request: seen.append(request.path) or echo_fast(request)
    if how == "content-length":
        raw.send(get("/big", method="POST", body=b"x" * 5000))
    elif how == "chunked":
        chunk = b"258\r\n" + b"x" * 600 + b"\r\n"
        raw.send(b"POST /big HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n" + chunk + chunk)
    else:  # refused before the client sends it
        raw.send(b"POST /big HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5000\r\n\r\n")
    reply = raw.read()
    assert reply.status == 413
    assert reply.header("connection") == "close"
    assert b"1000" in reply.body
    raw.expect_eof()
    assert seen == []
    with served.client() as client:
        assert client.post("/small", content=b"x" * 1000).text == "POST /small"


def test_idle_connections_are_closed_after_keep_alive(start: Callable[..., Served]) -> None:
    served = start(keep_alive=0.3)
    served.fast = echo_fast
    used, unused = served.raw(), served.raw()
    try:
        began = time.monotonic()
        used.send(get("/"))
        assert used.read().status == 200
        used.expect_eof(within=3)
        assert time.monotonic() - began >= 0.25
        unused.expect_eof(within=3)
    finally:
        used.close()
        unused.close()
    with served.client() as client:
        assert client.get("/fresh").text == "GET /fresh"


def test_a_slow_request_is_not_cut_by_the_idle_timeout(start: Callable[..., Served]) -> None:
    served = start(keep_alive=0.15)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.35)  # longer than the 0.15 s idle timeout: the subject of this test
        await slow_app(scope, receive, send)

    served.app = app
    with served.client() as client:
        assert client.get("/app/slow").text == "app /app/slow"


def test_graceful_stop(start: Callable[..., Served]) -> None:
    served = start()
    entered, released = threading.Event(), threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        entered.set()
        # Still in flight when the server is told to stop: held until the test has stopped it.
        await asyncio.get_running_loop().run_in_executor(None, released.wait, TIMEOUT)
        await slow_app(scope, receive, send)

    served.fast = echo_fast
    served.app = app
    busy, idle, queued = served.raw(), served.raw(), served.raw()
    try:
        idle.send(get("/idle"))
        assert idle.read().status == 200
        busy.send(get("/app/slow"))
        assert entered.wait(TIMEOUT)
        entered.clear()
        queued.send(get("/app/first") + get("/waiting"))
        wait_for(entered.is_set, "the second request to start")
        began = time.monotonic()
        served.server.stop()
        idle.expect_eof()
        released.set()
        reply = busy.read()  # the request in flight finishes...
        assert (reply.status, reply.body, reply.header("connection")) == (200, b"app /app/slow", "close")
        busy.expect_eof()  # ...and its connection closes
        reply = queued.read()
        assert (reply.body, reply.header("connection")) == (b"app /app/first", "close")
        queued.expect_eof()  # the request waiting behind it is dropped
        served.thread.join(TIMEOUT)
        assert not served.thread.is_alive()
        assert time.monotonic() - began < 2
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
    finally:
        released.set()
        busy.close()
        idle.close()
        queued.close()


def test_client_gone_while_a_request_waits_its_turn(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    served.fast = echo_fast
    served.app = slow_app
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            raw = served.raw()
            raw.send(get("/app/slow") + get("/fast") + get("/app/slow2"))
            raw.close()
        with served.client() as client:
            assert client.get("/app/check").text == "app /app/check"
            # the abandoned connections are gone once their requests are done
            wait_for(lambda: len(served.server.connections) <= 1, "abandoned connections to go")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    served.check()


def test_many_concurrent_clients(served: Served) -> None:
    served.fast = echo_fast
    served.app = slow_app
    results: dict[int, list[str]] = {}

    def client(n: int) -> None:
        with served.client() as http:
            results[n] = [http.get(f"/{'app' if i % 2 else 'f'}/{n}/{i}").text for i in range(10)]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(t.is_alive() for t in threads)
    for n in range(8):
        assert results[n] == [f"app /app/{n}/{i}" if i % 2 else f"GET /f/{n}/{i}" for i in range(10)]
