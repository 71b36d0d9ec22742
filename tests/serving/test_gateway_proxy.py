"""The gateway's upstream pool against real local servers: scripted raw sockets for the edge cases
(framing, closes, drops, timeouts) and uvicorn for keep-alive under concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import uvloop

from dream.clients.substrate import MATCH
from dream.gateway.service import Service
from dream.http.message import Headers
from dream.http.server import HttpServer
from dream.http.upstream import (
    UpstreamConnectError,
    UpstreamDropped,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from dream.node.config import NodeConfig
from dream.node.peers import PeerInfo
from dream.testing.harness import until

HOST = "127.0.0.1"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=["uvloop", "asyncio"])
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Coroutine[Any, Any, None]]], None]:
    """Runs a scenario on the loop the gateway uses (uvloop) and on asyncio's, bounded in time."""

    def runner(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
        async def bounded() -> None:
            async with asyncio.timeout(20):
                await scenario()

        if request.param == "uvloop":
            uvloop.run(bounded())
        else:
            asyncio.run(bounded())

    return runner


class RawServer:
    """A scripted HTTP server: `handler` gets each connection's streams."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._client, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    line, *lines = head[:-4].split(b"\r\n")
    headers = {}
    for item in lines:
        name, value = item.split(b":", 1)
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return line, headers, body


def answering(*responses: bytes) -> Handler:
    """A handler answering the connection's requests with `responses` in turn, then waiting for more."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            await read_request(reader)
            writer.write(response)
            await writer.drain()
        await reader.read()  # until the client closes

    return handler


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def test_content_length_response_and_the_request_as_sent(run) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[bytes, dict[bytes, bytes], bytes]] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(
                b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Thing: a\r\nx-thing: b\r\n\r\nhello"
            )

    async def scenario() -> None:
        async with RawServer(echo) as server:
            async with UpstreamPool() as pool:
                headers = [(b"host", b"hello.computers.com:8080"), (b"x-test", b"hi there")]
                status, got, body = await pool.request(
                    HOST, server.port, "POST", b"/echo?a=1", headers, b"data!"
                )
                assert (status, body) == (201, b"hello")
                assert got == [(b"content-length", b"5"), (b"x-thing", b"a"), (b"x-thing", b"b")]
                await pool.request(HOST, server.port, "GET", b"/again", [(b"host", b"h")])
                await pool.request(HOST, server.port, "POST", b"/empty", [(b"host", b"h")])
            assert server.connections == 1  # kept alive
        line, sent, body = seen[0]
        assert line == b"POST /echo?a=1 HTTP/1.1"
        assert sent == {b"host": b"hello.computers.com:8080", b"x-test": b"hi there", b"content-length": b"5"}
        assert body == b"data!"
        assert seen[1][0] == b"GET /again HTTP/1.1" and b"content-length" not in seen[1][1]
        assert seen[2][1][b"content-length"] == b"0"  # POST says its empty body's length

    run(scenario)


def test_chunked_response_is_decoded_and_the_connection_reused(run) -> None:  # type: ignore[no-untyped-def]
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            writer.write(b"6\r\n world\r\n0\r\n\r\n")
            await writer.drain()

    async def scenario() -> None:
        async with RawServer(chunked) as server:
            async with UpstreamPool() as pool:
                for _ in range(3):
                    status, _, body = await pool.request(HOST, server.port, "GET", b"/", [])
                    assert (status, body) == (200, b"hello world")
            assert server.connections == 1

    run(scenario)


def test_body_delimited_by_the_close(run) -> None:  # type: ignore[no-untyped-def]
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"this")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        async with RawServer(until_close) as server:
            async with UpstreamPool() as pool:
                for _ in range(2):
                    status, _, body = await pool.request(HOST, server.port, "GET", b"/", [])
                    assert (status, body) == (200, b"all of this")
                assert pool.idle(HOST, server.port) == 0
            assert server.connections == 2

    run(scenario)


@pytest.mark.parametrize(
    ("response", "connections"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok", 2),
        (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", 2),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\ncontent-length: 2\r\n\r\nok", 1),
    ],
    ids=["connection-close-is-not-reused", "http-1.0-is-not-reused", "http-1.0-keep-alive-is-reused"],
)
def test_a_connection_is_reused_only_when_the_server_keeps_it(  # type: ignore[no-untyped-def]
    run, response: bytes, connections: int
) -> None:
    async def scenario() -> None:
        async with RawServer(answering(response, response)) as server:
            async with UpstreamPool() as pool:
                for _ in range(2):
                    assert (await pool.request(HOST, server.port, "GET", b"/", []))[2] == b"ok"
            assert server.connections == connections

    run(scenario)


def test_head_204_and_100_continue_have_no_body_and_keep_the_connection(run) -> None:  # type: ignore[no-untyped-def]
    responses = (
        b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\ncontent-type: text/html\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nx-a: b\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\n\r\n",  # HEAD without a length: the body is not read up to a close
        OK,
    )

    async def scenario() -> None:
        async with RawServer(answering(*responses)) as server:
            async with UpstreamPool() as pool:
                head = await pool.request(HOST, server.port, "HEAD", b"/page", [])
                assert head == (200, [(b"content-length", b"1234"), (b"content-type", b"text/html")], b"")
                assert await pool.request(HOST, server.port, "DELETE", b"/x", []) == (
                    204,
                    [(b"x-a", b"b")],
                    b"",
                )
                continued = await pool.request(
                    HOST, server.port, "POST", b"/up", [(b"expect", b"100-continue")], b"x"
                )
                assert continued == (200, [(b"content-length", b"2")], b"ok")
                assert (await pool.request(HOST, server.port, "HEAD", b"/bare", []))[:2] == (200, [])
                assert (await pool.request(HOST, server.port, "GET", b"/", []))[2] == b"ok"
            assert server.connections == 1

    run(scenario)


def test_bytes_after_a_response_retire_the_connection(run) -> None:  # type: ignore[no-untyped-def]
    extra = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"  # a response nobody asked for, half sent

    def first_then_ok(first: list[bytes]) -> Handler:
        """The first connection answers with `first`, segment by segment; later ones answer OK."""
        seen = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal seen
            seen += 1
            if seen > 1:
                return await answering(OK)(reader, writer)
            await read_request(reader)
            for chunk in first:
                writer.write(chunk)
                await writer.drain()
            await reader.read()

        return handler

    async def scenario() -> None:
        for first in ([OK + extra], [OK, extra]):  # in the response's segment, or later while idle
            async with RawServer(first_then_ok(first)) as server, UpstreamPool() as pool:
                port = server.port
                assert (await pool.request(HOST, port, "GET", b"/", []))[2] == b"ok"
                await until(lambda pool=pool, port=port: pool.idle(HOST, port) == 0, timeout=5)
                assert (await pool.request(HOST, port, "GET", b"/", []))[2] == b"ok"
                assert server.connections == 2

    run(scenario)


def test_refused_connection(run) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]  # bound, never listening: connections to it are refused

        async def scenario() -> None:
            async with UpstreamPool() as pool:
                with pytest.raises(UpstreamConnectError, match=re.escape(f"cannot connect to {HOST}:{port}")):
                    await pool.request(HOST, port, "GET", b"/", [])

        run(scenario)


def test_dropped_mid_response_and_before_any_byte(run) -> None:  # type: ignore[no-untyped-def]
    async def partial(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        await writer.drain()
        writer.close()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async def scenario() -> None:
        for handler in (partial, mute):
            async with RawServer(handler) as server:
                async with UpstreamPool() as pool:
                    with pytest.raises(
                        UpstreamDropped, match="closed the connection before a whole response"
                    ):
                        await pool.request(HOST, server.port, "GET", b"/", [])
                assert server.connections == 1  # a new connection that fails is not retried

    run(scenario)


def test_not_http_is_a_protocol_error(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with RawServer(answering(b"SSH-2.0-OpenSSH\r\n\r\n")) as server, UpstreamPool() as pool:
            with pytest.raises(UpstreamProtocolError):
                await pool.request(HOST, server.port, "GET", b"/", [])

    run(scenario)


def test_read_timeout(run) -> None:  # type: ignore[no-untyped-def]
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # never answers; returns when the client gives up

    async def scenario() -> None:
        async with RawServer(silent) as server, UpstreamPool(read_timeout=0.2) as pool:
            started = asyncio.get_running_loop().time()
            with pytest.raises(UpstreamTimeout, match=r"sent nothing for 0\.2s"):
                await pool.request(HOST, server.port, "GET", b"/", [])
            assert asyncio.get_running_loop().time() - started < 2

    run(scenario)


def test_a_slow_but_steady_response_does_not_time_out(run) -> None:  # type: ignore[no-untyped-def]
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n")
        for byte in b"steady":
            await asyncio.sleep(0.05)  # the server's pace, the subject of this test
            writer.write(bytes([byte]))
        await reader.read()

    async def scenario() -> None:
        async with RawServer(trickle) as server, UpstreamPool(read_timeout=0.12) as pool:
            assert (await pool.request(HOST, server.port, "GET", b"/", []))[2] == b"steady"

    run(scenario)


def test_an_idle_connection_closed_by_the_server_is_not_used(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        closing = asyncio.Event()

        async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
            await closing.wait()  # the server's idle timeout, on cue

        async with RawServer(one_then_close) as server, UpstreamPool() as pool:
            assert (await pool.request(HOST, server.port, "GET", b"/", []))[2] == b"ok"
            assert pool.idle(HOST, server.port) == 1
            closing.set()
            await until(lambda: pool.idle(HOST, server.port) == 0, timeout=5)
            closing.clear()
            # Not idempotent, yet safe: the closed connection is never written to.
            assert (await pool.request(HOST, server.port, "POST", b"/", [], b"x"))[2] == b"ok"
            assert server.connections == 2

    run(scenario)


def test_a_stale_connection_closed_as_the_request_goes_is_retried_only_when_safe(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async def stale_after_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # Every connection answers once, then closes on reading its next request without a byte:
            # what a server does when its idle timeout and our request cross.
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
            await read_request(reader)

        async with RawServer(stale_after_one) as server, UpstreamPool() as pool:
            assert (await pool.request(HOST, server.port, "GET", b"/", []))[2] == b"ok"
            assert (await pool.request(HOST, server.port, "GET", b"/", []))[2] == b"ok"  # retried
            assert server.connections == 2
            with pytest.raises(UpstreamDropped):  # a POST may have run: not retried
                await pool.request(HOST, server.port, "POST", b"/", [], b"x")
            assert server.connections == 2

    run(scenario)


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b"%s %s %s" % (scope["method"].encode(), scope["raw_path"], body)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(answer))]}
    )
    await send({"type": "http.response.body", "body": answer})


@contextlib.asynccontextmanager
async def uvicorn_server(keep_alive: float = 30, app: Any = echo_app) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind((HOST, 0))
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        http="httptools",
        loop="none",
        timeout_keep_alive=keep_alive,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or task.done(), timeout=5)
        assert server.started
        yield sock.getsockname()[1]
    finally:
        await stop_serving(server, task, sock)


async def stop_serving(server: Any, task: asyncio.Task[None], sock: socket.socket) -> None:
    """Stop a server (uvicorn's, or dream's, whose `stop` also ends its sweep's rest): wait 5 s at most,
    close its socket."""
    if isinstance(server, HttpServer):
        server.stop()
    else:
        server.should_exit = True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await task
    sock.close()


def test_concurrent_requests_share_a_bounded_number_of_connections(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with uvicorn_server() as port:
            async with UpstreamPool(max_idle_per_host=32) as pool:

                async def one(i: int) -> None:
                    body = b"x" * i
                    status, _, answer = await pool.request(
                        HOST, port, "PUT", b"/n/%d?q=1" % i, [(b"host", b"h")], body
                    )
                    assert (status, answer) == (200, b"PUT /n/%d %s" % (i, body))

                for _ in range(20):
                    await asyncio.gather(*(one(i) for i in range(16)))
                assert pool.opened <= 16
                assert pool.idle(HOST, port) == pool.opened

            async with UpstreamPool(max_idle_per_host=4) as capped:
                await asyncio.gather(*(capped.request(HOST, port, "GET", b"/", []) for _ in range(16)))
                assert capped.idle(HOST, port) == 4

    run(scenario)


def test_uvicorn_closing_idle_connections_costs_no_failure(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with uvicorn_server(keep_alive=0.05) as port, UpstreamPool() as pool:
            for _ in range(3):
                assert (await pool.request(HOST, port, "GET", b"/a", []))[2] == b"GET /a "
                await until(lambda: pool.idle(HOST, port) == 0, timeout=5)
            assert pool.opened == 3

    run(scenario)


# -- the gateway's ASGI app over the pool: choice, failover, headers ---------------------------------


class FakePeers:
    """Stands in for the registry and the substrates' p2p `/substrate/match`."""

    def __init__(self, substrates: dict[str, tuple[int, bool, bool]]) -> None:
        self.substrates = substrates  # peer id → (http port, match, warm)
        self.asked: Counter[str] = Counter()

    async def discover(self, name: str | None = None, *, fresh: bool = False) -> list[PeerInfo]:
        assert name == "substrate"
        return [
            PeerInfo(id, "substrate", "service", n, 0, {"http": port, "p2p": 1}, "universe")
            for n, (id, (port, _, _)) in enumerate(self.substrates.items())
        ]

    async def request(self, peer: PeerInfo, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert (method, path) == ("GET", MATCH)
        self.asked[peer.id] += 1
        _, match, warm = self.substrates[peer.id]
        return httpx.Response(200, json={"match": match, "warm": warm})

    async def close(self) -> None:
        pass


def node_config(name: str, root: Path) -> NodeConfig:
    """The config of a node of service `name` run in this process, its directory `root`."""
    return NodeConfig(
        universe="universe",
        universe_id="id",
        key="00" * 32,
        kind="service",
        name=name,
        index=0,
        id=f"{name}-peer",
        root=str(root),
        ports={"http": 0, "p2p": 0},
    )


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path, substrates: dict[str, tuple[int, bool, bool]]) -> AsyncIterator[Service]:
    service = Service(node_config("gateway", tmp_path))
    await service.peers.close()
    service.peers = FakePeers(substrates)  # type: ignore[assignment]
    await service.on_start()
    try:
        assert service.http_app() is service
        yield service
    finally:
        await service.on_stop()


async def call(
    app: Service,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: Headers = (),
    chunks: tuple[bytes, ...] = (b"",),
) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    """One request through the ASGI app, as uvicorn would make it; (status, headers, body)."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"hello.computers.com"), *headers],
    }
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": pending.pop(0), "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, body = sent
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    got: dict[bytes, list[bytes]] = {}
    for name, value in start["headers"]:
        got.setdefault(name, []).append(value)
    return start["status"], got, body["body"]


async def named_echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what it received as JSON, plus headers a gateway must drop or keep."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps(
        {
            "method": scope["method"],
            "path": scope["raw_path"].decode(),
            "query": scope["query_string"].decode(),
            "headers": [[n.decode(), v.decode()] for n, v in scope["headers"]],
            "body": body.decode(),
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(answer)),
        (b"x-echo", b"yes"),
        (b"keep-alive", b"timeout=5"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]  # free once closed: nothing listens there


def test_the_gateway_forwards_the_request_and_filters_hop_headers_both_ways(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with (
            uvicorn_server(app=named_echo_app) as port,
            gateway(tmp_path, {"peer-a": (port, True, True)}) as app,
        ):
            sent_headers = [
                (b"x-test", b"hi there"),
                (b"connection", b"keep-alive"),
                (b"keep-alive", b"timeout=9"),
                (b"te", b"trailers"),
                (b"content-length", b"14"),
                (b"expect", b"100-continue"),
            ]
            status, headers, body = await call(
                app,
                "POST",
                "/echo",
                query=b"name=bob&x=%20",
                headers=sent_headers,
                chunks=(b"a body ", b"in two"),
            )
            assert status == 200
            seen = json.loads(body)
            assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/echo", "name=bob&x=%20")
            assert seen["body"] == "a body in two"
            # The gateway's own: which gateway and which of its requests (the request inspector's).
            (via,) = [value for name, value in seen["headers"] if name == "x-dream-gateway"]
            assert re.fullmatch(r"\S+ \d+", via), via
            forwarded = [pair for pair in seen["headers"] if pair[0] != "x-dream-gateway"]
            assert sorted(forwarded) == [
                ["content-length", "13"],
                ["host", "hello.computers.com"],
                ["x-test", "hi there"],
            ]
            assert headers == {
                b"content-type": [b"application/json"],
                b"x-echo": [b"yes"],
                b"set-cookie": [b"a=1", b"b=2"],
                b"content-length": [b"%d" % len(body)],
                b"x-substrate-peer": [b"peer-a"],
            }  # no server, date or keep-alive: uvicorn sets its own, hop-by-hop ones stay on their hop
            head_status, head_headers, head_body = await call(app, "HEAD", "/echo")
            assert (head_status, head_body) == (200, b"")
            assert head_headers[b"content-length"] != [b"0"]  # the length a GET would get

    run(scenario)


def test_the_gateway_prefers_a_match_then_a_warm_module_then_the_least_busy(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with uvicorn_server(app=named_echo_app) as port:
            substrates = {
                "cold": (port, True, False),
                "none": (port, False, False),
                "warm": (port, True, True),
            }
            async with gateway(tmp_path, substrates) as app:
                answers = await asyncio.gather(*(call(app, "GET", "/ping") for _ in range(10)))
                assert {tuple(headers[b"x-substrate-peer"]) for _, headers, _ in answers} == {(b"warm",)}
                assert (await call(app, "GET", "/ping"))[1][b"x-substrate-peer"] == [b"warm"]
                # One lookup for the burst, then the cache answers.
                assert app.peers.asked == {"cold": 1, "none": 1, "warm": 1}
            substrates = {"one": (port, True, True), "two": (port, True, True), "no": (port, False, True)}
            async with gateway(tmp_path, substrates) as app:
                app.inflight["one"] = 3
                assert (await call(app, "GET", "/ping"))[1][b"x-substrate-peer"] == [b"two"]
                app.inflight["two"] = 4
                assert (await call(app, "GET", "/ping"))[1][b"x-substrate-peer"] == [b"one"]
                assert app.health() == {"inflight": 7, "down": []}

    run(scenario)


def test_the_gateway_fails_over_from_a_refused_substrate_and_marks_it_down(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with uvicorn_server(app=named_echo_app) as port:
            substrates = {"dead": (refused_port(), True, True), "alive": (port, True, False)}
            async with gateway(tmp_path, substrates) as app:
                for method in ("POST", "GET"):  # a refused connection ran nothing: any method fails over
                    status, headers, _ = await call(app, method, "/ping")
                    assert (status, headers[b"x-substrate-peer"]) == (200, [b"alive"])
                assert app.health()["down"] == ["dead"]
            substrates = {"dead": (refused_port(), True, True), "dead-too": (refused_port(), True, True)}
            async with gateway(tmp_path, substrates) as app:
                status, _, body = await call(app, "GET", "/ping")
                assert status == 502 and body.startswith(b"every substrate failed: ")
                assert b"cannot connect to 127.0.0.1:" in body
                status, _, body = await call(app, "GET", "/ping")  # both down for a moment
                assert status == 502
                assert body.startswith(b"every substrate is down (dead, dead-too refused connections); ")
            async with gateway(tmp_path, {}) as app:
                status, _, body = await call(app, "GET", "/ping")
                assert (status, body) == (502, b"no substrate is running in this universe")

    run(scenario)


def test_the_gateway_fails_over_from_a_dropped_request_only_when_idempotent(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async def scenario() -> None:
        async with uvicorn_server(app=named_echo_app) as port, RawServer(drop) as dropping:
            substrates = {"dropping": (dropping.port, True, True), "alive": (port, True, False)}
            async with gateway(tmp_path / "get", substrates) as app:
                status, headers, _ = await call(app, "GET", "/ping")
                assert (status, headers[b"x-substrate-peer"]) == (200, [b"alive"])
                assert app.health()["down"] == []  # it listens: a dropped request is not a sign of down
            async with gateway(tmp_path / "post", substrates) as app:
                status, _, body = await call(app, "POST", "/ping", chunks=(b"once",))
                assert status == 502
                assert body.startswith(b"substrate dropping dropped the request: ")
                assert app.health()["down"] == []

    run(scenario)


def test_the_gateway_answers_504_when_a_substrate_is_too_slow(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    async def scenario() -> None:
        async with RawServer(silent) as server, gateway(tmp_path, {"slow": (server.port, True, True)}) as app:
            await app.pool.close()
            app.pool = UpstreamPool(read_timeout=0.1)
            status, _, body = await call(app, "GET", "/spin")
            assert status == 504 and body.startswith(b"substrate slow did not answer: ")
            assert app.health()["down"] == []  # slow is not down

    run(scenario)
