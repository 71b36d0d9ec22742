"""dream's HttpServer at rest, on real sockets: with no connection its sweep sleeps instead of waking ten
times a second, a connection that comes wakes it (its keep-alive and head limits hold as ever), and
`stop` ends it at once, from its own loop or from another thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from dream.daemon.ports import free_port
from dream.http import server as httpserver
from dream.http.server import HttpServer
from dream.node.runtime import bind_tcp
from dream.testing.harness import until, wait_for


@pytest.fixture
def resting_an_hour(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """A rest of an hour (only a connection or `stop` can end it) and a count of the sweeps."""
    monkeypatch.setattr(httpserver, "REST_SECONDS", 3600.0)
    sweeps: list[float] = []
    sweep = HttpServer._sweep

    def counted(self: HttpServer) -> None:
        sweeps.append(1.0)
        sweep(self)

    monkeypatch.setattr(HttpServer, "_sweep", counted)
    yield sweeps


class Resting(asyncio.Event):
    """The server's `stirred` event, counting the rests it begins (each clears it first)."""

    def __init__(self, rests: list[float]) -> None:
        super().__init__()
        self.rests = rests

    def clear(self) -> None:
        self.rests.append(1.0)
        super().clear()


def _server(keep_alive: float = 30.0) -> HttpServer:
    return HttpServer(lambda *a: None, fast=lambda request: (200, [], b"PONG"), keep_alive=keep_alive)


def test_a_connection_wakes_the_resting_sweep_and_its_keep_alive_still_ends(
    resting_an_hour: list[float],
) -> None:
    async def scenario() -> None:
        server = _server(keep_alive=0.3)
        port = free_port()
        rests: list[float] = []
        server.stirred = Resting(rests)
        task = asyncio.create_task(server.serve([bind_tcp(port)]))
        # With no connection the server rests (an hour here) at once, having swept nothing.
        await until(lambda: rests, "the server to rest")
        assert resting_an_hour == []
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readuntil(b"PONG")).startswith(b"HTTP/1.1 200")
        # Idle past keep_alive: only a sweep closes it, and the connection woke the sweep.
        async with asyncio.timeout(10):
            assert await reader.read() == b""
        assert resting_an_hour
        writer.close()
        await until(lambda: not server.connections, "the connection to go")
        server.stop()
        async with asyncio.timeout(10):
            await task

    asyncio.run(scenario())


def test_stop_ends_a_resting_server_from_its_loop(resting_an_hour: list[float]) -> None:
    async def scenario() -> None:
        server = _server()
        task = asyncio.create_task(server.serve([bind_tcp(free_port())]))
        await until(lambda: server.started, "the server to start")
        server.stop()
        async with asyncio.timeout(10):
            await task

    asyncio.run(scenario())


def test_stop_ends_a_resting_server_from_another_thread(resting_an_hour: list[float]) -> None:
    server = _server()
    sock: socket.socket = bind_tcp(free_port())
    thread = threading.Thread(target=asyncio.run, args=(server.serve([sock]),), daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the server to start")
    server.stop()
    thread.join(10)
    assert not thread.is_alive(), "serve() did not return after stop()"
