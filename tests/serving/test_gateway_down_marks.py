"""The gateway's down marks against real local servers: only a refused connection marks a substrate
down, the mark ends as soon as its port accepts a connection again, and probing stops with the mark."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dream.gateway.service import DOWN_FOR
from dream.testing.harness import until
from tests.serving.test_gateway_proxy import (
    HOST,
    OK,
    RawServer,
    call,
    gateway,
    read_request,
    refused_port,
    run,  # noqa: F401  (the fixture)
)

# A NUL in a header value: the gateway's parser refuses the whole response.
BAD = b"HTTP/1.1 200 OK\r\nx-bad: a\x00b\r\ncontent-length: 2\r\n\r\nok"


async def by_path(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """`/bad` gets BAD, `/drop` a closed connection, anything else OK."""
    while True:
        line, _, _ = await read_request(reader)
        path = line.split(b" ")[1]
        if path == b"/drop":
            return
        writer.write(BAD if path == b"/bad" else OK)
        await writer.drain()


def test_a_bad_answer_or_a_drop_fails_that_request_and_marks_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def scenario() -> None:
        async with RawServer(by_path) as one, RawServer(by_path) as other:
            substrates = {"one": (one.port, True, True), "other": (other.port, True, False)}
            async with gateway(tmp_path, substrates) as app:
                status, _, body = await call(app, "GET", "/bad")
                assert status == 502  # not sent again elsewhere: the answer was the function's
                assert body.startswith(b"substrate one answered with a response that is not valid HTTP: ")
                assert b"Invalid header value char" in body
                status, _, body = await call(app, "POST", "/drop", chunks=(b"once",))
                assert (status, body[:35]) == (502, b"substrate one dropped the request: ")
                assert app.health()["down"] == [] and app.probes == {}
                for _ in range(3):
                    status, headers, body = await call(app, "GET", "/ok")
                    assert (status, body, headers[b"x-substrate-peer"]) == (200, b"ok", [b"one"])

    run(scenario)


def test_a_refused_substrate_is_used_again_as_soon_as_its_port_accepts(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def scenario() -> None:
        port = refused_port()
        async with gateway(tmp_path, {"back": (port, True, True)}) as app:
            status, _, body = await call(app, "GET", "/ok")
            assert status == 502 and body.startswith(b"every substrate failed: back: cannot connect to ")
            status, _, body = await call(app, "GET", "/ok")
            assert status == 502
            assert body == (
                b"every substrate is down (back refused connections); each is tried every 0.05s and used "
                b"again as soon as it accepts one: retry in a moment"
            )
            assert app.health()["down"] == ["back"] and set(app.probes) == {"back"}
            marked = asyncio.get_running_loop().time()
            server = await asyncio.start_server(by_path, HOST, port)
            try:
                # Long before the mark would run out: the probe saw the port accept a connection.
                await until(lambda: app.health()["down"] == [], timeout=DOWN_FOR * 0.75)
                assert asyncio.get_running_loop().time() < marked + DOWN_FOR
                status, headers, body = await call(app, "GET", "/ok")
                assert (status, body, headers[b"x-substrate-peer"]) == (200, b"ok", [b"back"])
                assert app.probes == {}
            finally:
                server.close()

    run(scenario)


def test_probing_ends_with_the_mark(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def scenario() -> None:
        async with gateway(tmp_path, {"gone": (refused_port(), True, True)}) as app:
            assert (await call(app, "GET", "/ok"))[0] == 502
            assert set(app.probes) == {"gone"}
            await until(lambda: app.probes == {}, timeout=DOWN_FOR + 2)  # bounded: no probe outlives it
            assert app.health()["down"] == []
            status, _, body = await call(app, "GET", "/ok")  # tried again: refused, marked again
            assert status == 502 and b"Connection refused" in body
            assert set(app.probes) == {"gone"}

    run(scenario)
