"""The gateway's fast path (the C relay when in use, `Service.fast_http` and `Relay`) behind the real HTTP server: a request with a
cached route and an idle upstream connection is relayed from the parser's callback, with no task, and
answers exactly as the ASGI path does; a client that leaves drops the upstream connection; a dropped
request fails over only when it may run twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from dream.gateway.service import Service
from dream.http.server import HttpServer
from dream.http.upstream import STALE_WINDOW
from dream.testing.harness import until
from tests.serving.test_gateway_proxy import (
    HOST,
    OK,
    RawServer,
    answering,
    gateway,
    named_echo_app,
    read_request,
    run,  # noqa: F401  (the fixture)
    stop_serving,
    uvicorn_server,
)

FQDN = "hello.computers.com"


@contextlib.asynccontextmanager
async def serving(app: Service, mode: str) -> AsyncIterator[tuple[HttpServer, int]]:
    """The gateway on a real HttpServer and its port: the ASGI path only ("asgi"), with the Python fast
    path ("python"), or with the relay in C before it too when it is in use ("c")."""
    sock = socket.socket()
    sock.bind((HOST, 0))
    sock.listen()
    sock.setblocking(False)
    server = HttpServer(
        app,
        fast=app.fast_http if mode != "asgi" else None,
        relay=app.http_relay if mode == "c" else None,
        cancel_on_disconnect=True,
    )
    task = asyncio.create_task(server.serve([sock]))
    try:
        await until(lambda: server.started or task.done(), "the server to start", timeout=5)
        yield server, sock.getsockname()[1]
    finally:
        await stop_serving(server, task, sock)


@contextlib.asynccontextmanager
async def served(app: Service, *, fast: bool) -> AsyncIterator[tuple[HttpServer, httpx.AsyncClient]]:
    """The gateway with or without its fast paths (the relay in C, when in use, stands before the Python
    one and leaves it whatever it does not take), and a keep-alive client."""
    async with (
        serving(app, "c" if fast else "asgi") as (server, port),
        httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}", headers={"host": FQDN}, timeout=5, trust_env=False
        ) as client,
    ):
        yield server, client


def relayed(server: HttpServer) -> bool:
    """Whether a request is waiting on the fast path right now (answered later, with no task)."""
    return any(c.later is not None and c.task is None for c in server.connections)


def test_the_fast_path_answers_as_the_asgi_path_does(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def answers(fast: bool) -> list[tuple[int, list[tuple[str, str]], bytes]]:
        async with (
            uvicorn_server(app=named_echo_app) as port,
            gateway(tmp_path / str(fast), {"peer-a": (port, True, True)}) as app,
            served(app, fast=fast) as (_, client),
        ):
            found = []
            for method, body in (("GET", b""), ("HEAD", b""), ("POST", b"a body")):
                # The first of each (host, path, method) finds its route on the ASGI path.
                for _ in range(2):
                    response = await client.request(
                        method, "/echo?x=%20y", content=body, headers={"x-test": "hi"}
                    )
                    text = response.content
                    if text:
                        seen = json.loads(text)
                        seen["headers"] = [h for h in seen["headers"] if h[0] != "x-dream-gateway"]
                        text = json.dumps(seen).encode()
                    found.append((response.status_code, sorted(response.headers.multi_items()), text))
            # Every record of the inspector names the substrate that answered.
            assert app.ring is not None
            assert [r[8] for r in app.ring.tuples()] == [b"peer-a"] * 6
            assert app.inflight == {"peer-a": 0}
            return found

    async def scenario() -> None:
        slow, fast = await answers(False), await answers(True)
        assert fast == slow
        assert fast[0][0] == 200 and ("x-substrate-peer", "peer-a") in fast[0][1]
        # Hop-by-hop headers stay on their hop; the length is the gateway's own.
        assert not {"keep-alive", "server", "date"} & {name for name, _ in fast[0][1]}

    run(scenario)


def test_a_client_that_leaves_drops_the_relayed_request_upstream(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def scenario() -> None:
        closed = asyncio.Event()

        async def hang_on_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The first request is answered; the second never is: read until the gateway drops it.
            await answering(OK)(reader, writer)
            closed.set()

        async with (
            RawServer(hang_on_second) as upstream,
            gateway(tmp_path, {"one": (upstream.port, True, True)}) as app,
            served(app, fast=True) as (server, client),
        ):
            assert (await client.get("/hang")).content == b"ok"
            waiting = asyncio.create_task(client.get("/hang"))
            await until(lambda: relayed(server), "the request to wait on the fast path")
            assert app.inflight == {"one": 1}
            waiting.cancel()  # the client goes away
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            await until(closed.is_set, "the gateway to drop the upstream connection")
            assert app.inflight == {"one": 0}
            assert app.ring is not None
            assert [r[5] for r in app.ring.tuples()] == [200, 502]

    run(scenario)


def test_a_dropped_relayed_request_fails_over_only_when_idempotent(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def scenario() -> None:
        seen: set[bytes] = set()

        async def first_ok_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The first request of each method and path is answered (its route gets cached and the
            # connection kept); later ones are dropped: at once, or after a second for `/late`.
            while True:
                line, _, _ = await read_request(reader)
                key = line.rsplit(b" ", 1)[0]
                if key not in seen:
                    seen.add(key)
                    writer.write(OK)
                    await writer.drain()
                    continue
                if b"/late" in key:
                    await asyncio.sleep(STALE_WINDOW + 0.2)  # the drop comes past a stale connection's window
                return

        async with uvicorn_server(app=named_echo_app) as port, RawServer(first_ok_then_drop) as dropping:
            substrates = {"dropping": (dropping.port, True, True), "alive": (port, True, False)}
            async with gateway(tmp_path, substrates) as app, served(app, fast=True) as (_, client):
                for path in ("/now", "/late"):
                    first = await client.get(path)
                    assert first.headers["x-substrate-peer"] == "dropping"
                    again = await client.get(path)
                    assert (again.status_code, again.headers["x-substrate-peer"]) == (200, "alive")
                    await client.post(path, content=b"once")  # the first POST is answered
                    dropped = await client.post(path, content=b"once")
                    assert dropped.status_code == 502
                    assert dropped.content.startswith(b"substrate dropping dropped the request: ")
                assert app.health() == {"inflight": 0, "down": []}

    run(scenario)
