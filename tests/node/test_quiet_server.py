"""A node's uvicorn server (`dream.node.runtime.Server`) on a real socket: it serves, wakes about once a
second at rest instead of uvicorn's ten times, and `should_exit` ends it without waiting for a tick."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dream.node import runtime
from dream.testing.harness import until, wait_for


async def pong(request: object) -> PlainTextResponse:
    return PlainTextResponse("PONG")


class Counted(runtime.Server):
    ticks: list[tuple[float, int]]  # (when, uvicorn's tick counter)

    async def on_tick(self, counter: int) -> bool:
        self.ticks.append((time.monotonic(), counter))
        return await super().on_tick(counter)


async def _serve(server: Counted) -> tuple[asyncio.Task[None], int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: server.started or task.done(), "the server to start")
    assert server.started, "the server failed to start"
    return task, sock.getsockname()[1]


def _server() -> Counted:
    server = Counted(runtime.server_config(Starlette(routes=[Route("/ping", pong)])))
    server.ticks = []
    return server


def test_it_serves_and_at_rest_wakes_once_per_rest_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    # A rest tick of 0.3 s (1 s in use) keeps the test short and stays apart from uvicorn's 0.1 s.
    monkeypatch.setattr(runtime, "REST_TICK_SECONDS", 0.3)

    async def scenario() -> None:
        server = _server()
        task, port = await _serve(server)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/ping")).text == "PONG"
        began = len(server.ticks)
        await until(lambda: len(server.ticks) >= began + 3, "three ticks at rest", timeout=10)
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        at_rest = server.ticks[began : began + 3]
        # A wait never ends early (a loaded machine only makes it longer): with uvicorn's loop these gaps
        # are 0.1 s. Each tick counts as ten of uvicorn's, so its once-a-second work runs every tick.
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(at_rest)]
        assert all(gap >= 0.29 for gap in gaps), gaps
        assert all(counter % 10 == 0 for _, counter in at_rest), at_rest

    asyncio.run(scenario())


def test_should_exit_ends_it_without_waiting_for_a_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    # With an hour between ticks, only `should_exit` itself can end the server within the bound.
    monkeypatch.setattr(runtime, "REST_TICK_SECONDS", 3600.0)

    async def scenario() -> None:
        server = _server()
        task, _ = await _serve(server)
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        assert server.should_exit

    asyncio.run(scenario())


def test_should_exit_from_another_thread_ends_it_without_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    # As the daemon's signal handler and a test's thread set it: the waiting loop is woken, not left to
    # its next tick (an hour away here).
    monkeypatch.setattr(runtime, "REST_TICK_SECONDS", 3600.0)
    server = _server()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the server to start")
    wait_for(lambda: server.ticks, "the server's first tick")
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive(), "serve() did not return after should_exit"
