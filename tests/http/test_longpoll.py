"""`dream.http.longpoll.held` on a real uvicorn server (the nodes' p2p port) and on dream's own HTTP
server: a long-poll ends when its client goes away, not at its deadline; it answers as usual when its
event comes first; a body read or not read makes no difference; the wait's error is the handler's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dream.http.longpoll import held
from dream.http.server import HttpServer
from dream.node import runtime
from dream.testing.harness import until


class Poll:
    """A long-poll route: it waits an hour for `event` unless its client goes, and records how it ended."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.ended: list[str] = []
        self.entered = 0

    async def wait(self) -> None:
        await self.event.wait()

    async def failing(self) -> None:
        raise ValueError("the wait failed")

    async def route(self, request: Request) -> PlainTextResponse:
        if request.method == "POST":
            await request.body()
        self.entered += 1
        try:
            waiting = (
                self.failing() if request.query_params.get("fail") else asyncio.wait_for(self.wait(), 3600)
            )
            came = await held(request, waiting)
        except ValueError as exc:
            self.ended.append(f"error: {exc}")
            raise
        self.ended.append("event" if came else "gone")
        return PlainTextResponse("came" if came else "gone")


@asynccontextmanager
async def serving(kind: str, poll: Poll) -> AsyncIterator[int]:
    app = Starlette(routes=[Route("/poll", poll.route, methods=["GET", "POST"])])
    sock = runtime.bind_tcp(0)
    port = sock.getsockname()[1]
    server: Any = runtime.Server(runtime.server_config(app)) if kind == "uvicorn" else HttpServer(app)
    task = asyncio.create_task(server.serve(sockets=[sock]) if kind == "uvicorn" else server.serve([sock]))
    await until(lambda: server.started or task.done(), "the server to start")
    try:
        yield port
    finally:
        server.stop()
        async with asyncio.timeout(10):
            await task


def _request(method: str, body: bytes = b"", query: str = "") -> bytes:
    return f"{method} /poll{query} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize("kind", ["uvicorn", "dream"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_long_poll_ends_when_its_client_goes(kind: str, method: str) -> None:
    async def scenario() -> None:
        poll = Poll()
        async with serving(kind, poll) as port:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_request(method, b'{"monkey": "m1"}' if method == "POST" else b""))
            await writer.drain()
            await until(lambda: poll.entered == 1, "the long-poll to be held")
            writer.transport.abort()  # the caller dies: a reset, no request for the answer
            await until(lambda: poll.ended == ["gone"], "the long-poll to see its caller gone", timeout=10)

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["uvicorn", "dream"])
def test_a_long_poll_answers_when_its_event_comes_first(kind: str) -> None:
    async def scenario() -> None:
        poll = Poll()
        async with serving(kind, poll) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_request("POST", b"{}"))
            await until(lambda: poll.entered == 1, "the long-poll to be held")
            poll.event.set()
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"came")
            assert head.startswith(b"HTTP/1.1 200") and poll.ended == ["event"]
            writer.close()

    asyncio.run(scenario())


def test_the_wait_s_error_is_the_handler_s() -> None:
    async def scenario() -> None:
        poll = Poll()
        async with serving("uvicorn", poll) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_request("GET", query="?fail=1"))
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n")
            assert head.startswith(b"HTTP/1.1 500") and poll.ended == ["error: the wait failed"]
            writer.close()

    asyncio.run(scenario())
