"""The gateway's relay in C (`dream/http/_native/relay.c`, `dream.gateway.relay`) behind the real HTTP
server: the same requests, usual and hostile, through the ASGI path, the Python fast path and the C relay
get the same answers byte for byte, the substrate gets the same requests, and the inspector the same
records; a client that leaves, a substrate that drops a request or answers too late, are handled alike."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from dream.gateway import relay as c_relay
from dream.gateway.service import Service
from dream.http.records import RING_ENV
from dream.http.server import MAX_BODY
from dream.http.upstream import STALE_WINDOW
from dream.testing.harness import until
from tests.serving.test_gateway_fast_path import serving
from tests.serving.test_gateway_proxy import (
    HOST,
    Handler,
    RawServer,
    gateway,
    run,  # noqa: F401  (the fixture)
)

needs_relay = pytest.mark.skipif(
    c_relay.load()[0] is None, reason=f"the relay extension is not in use: {c_relay.load()[1]}"
)

FQDN = b"hello.computers.com"
MODES = ("asgi", "python", "c")


async def scripted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A substrate answering by path: usual answers (echoing the request head it got), and unusual ones."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        path = head.split(b" ")[1].split(b"?")[0]
        # What the gateway numbers differs between paths (the ASGI path numbers refused requests too).
        seen = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"x-dream-gateway"))
        if path.startswith(b"/ok"):
            echo = seen + body
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: up\r\nDate: today\r\n"
                b"Keep-Alive: timeout=5\r\nX-Thing: a\r\nx-thing: b\r\nContent-Length: %d\r\n\r\n%b"
                % (len(echo), echo)
            )
        elif path == b"/404":
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope")
        elif path == b"/204":
            writer.write(b"HTTP/1.1 204 No Content\r\nx-empty: yes\r\n\r\n")
        elif path == b"/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        elif path == b"/split":  # the head, then the body in a later read
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)  # the server's pace, the subject: the body comes in a later read
            writer.write(b"later")
        elif path == b"/close":
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            return
        elif path == b"/bad":
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            await writer.drain()
            return
        elif path == b"/after":  # bytes after the answer: the stream is out of step
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")
        else:  # /drop: the substrate goes away with the request
            return
        await writer.drain()


def usual(path: bytes, extra: bytes = b"", method: bytes = b"GET") -> bytes:
    return b"%b %b HTTP/1.1\r\nHost: %b\r\nUser-Agent: t\r\n%b\r\n" % (method, path, FQDN, extra)


# (name, the bytes a client sends, how many answers come back)
REQUESTS: list[tuple[str, bytes, int]] = [
    ("usual", usual(b"/ok?x=1"), 1),
    ("empty query", usual(b"/ok?"), 1),
    (
        "hop-by-hop and spoofed fields",
        usual(b"/ok", b"Keep-Alive: 5\r\nTE: trailers\r\nX-Dream-Gateway: me 9\r\n"),
        1,
    ),
    ("upper-case names", usual(b"/ok", b"X-TEST: Hi There\r\n"), 1),
    ("no host", b"GET /ok HTTP/1.1\r\nx-a: b\r\n\r\n", 1),
    ("post without a body", usual(b"/ok", method=b"POST"), 1),
    ("post with a body", usual(b"/ok", b"Content-Length: 3\r\n", method=b"POST") + b"abc", 1),
    ("a body that is a blank line", usual(b"/ok", b"Content-Length: 4\r\n", method=b"POST") + b"\r\n\r\n", 1),
    ("put without a body", usual(b"/ok", method=b"PUT"), 1),
    ("delete", usual(b"/ok", method=b"DELETE"), 1),
    ("head", usual(b"/ok", method=b"HEAD"), 1),
    ("http/1.0", b"GET /ok HTTP/1.0\r\nHost: " + FQDN + b"\r\n\r\n", 1),
    ("connection: close", usual(b"/ok", b"Connection: close\r\n"), 1),
    ("pipelined", usual(b"/ok?n=1") + usual(b"/ok?n=2"), 2),
    ("percent-encoded", usual(b"/ok/%41"), 1),
    ("an answer of 404", usual(b"/404"), 1),
    ("an answer of 204", usual(b"/204"), 1),
    ("a chunked answer", usual(b"/chunked"), 1),
    ("an answer in two reads", usual(b"/split"), 1),
    ("an answer that closes", usual(b"/close"), 1),
    ("bytes after the answer", usual(b"/after"), 1),
    ("not HTTP", usual(b"/bad"), 1),
    ("dropped", usual(b"/drop"), 1),
    ("dropped post", usual(b"/drop", method=b"POST"), 1),
    ("a header line too large", usual(b"/ok", b"x-big: " + b"a" * 9000 + b"\r\n"), 1),
    ("too many header lines", usual(b"/ok", b"".join(b"x-%d: v\r\n" % i for i in range(120))), 1),
    ("a malformed head", b"GET /ok HTTP/1.1\r\nHost: " + FQDN + b"\r\nno colon here\r\n\r\n", 1),
    ("two hosts", usual(b"/ok", b"Host: other\r\n"), 1),
    ("a body over the limit", usual(b"/ok", b"Content-Length: %d\r\n" % (MAX_BODY + 1), method=b"POST"), 1),
]


async def read_answer(reader: asyncio.StreamReader, method: bytes) -> bytes:
    """One whole answer as it came: its head, then its body by its framing (or until the close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    fields = head.lower()
    if method == b"HEAD" or b" 204 " in head.split(b"\r\n")[0]:
        return head
    if b"content-length:" in fields:
        length = int(fields.split(b"content-length:")[1].split(b"\r\n")[0])
        return head + await reader.readexactly(length)
    if b"transfer-encoding: chunked" in fields:
        return head + await reader.readuntil(b"0\r\n\r\n")
    return head + await reader.read()


async def exchange(port: int, data: bytes, answers: int) -> list[bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(data)
        method = data.split(b" ")[0]
        return [await read_answer(reader, method) for _ in range(answers)]
    finally:
        writer.close()


async def relay_ready(app: Service, port: int) -> None:
    """Wait until the relay has an idle connection to `port` (asking for one), so the next usual request
    finds one; on the other paths, nothing to wait for."""
    if app.relay is None:
        return
    if not app.relay.idle(port):
        app._want_upstream(port)
    await until(lambda: app.relay.idle(port) > 0, "the relay to open a connection", timeout=5)


@needs_relay
def test_the_relay_answers_as_the_python_paths_do(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def answers(upstream: int, mode: str) -> tuple[list[list[bytes]], list[tuple[object, ...]], int]:
        async with (
            gateway(tmp_path / mode, {"peer-a": (upstream, True, True)}) as app,
            serving(app, mode) as (_, port),
        ):
            found = []
            # Each request three times: the first of each route finds it on the ASGI path.
            for _, data, count in REQUESTS:
                for _ in range(3):
                    if mode == "c":
                        await relay_ready(app, upstream)
                    found.append(await exchange(port, data, count))
            await until(lambda: app.inflight.get("peer-a", 0) == 0, "the requests to end")
            assert app.ring is not None
            # The record of each request, but its clocks.
            records = [r[:1] + r[2:6] + r[7:] for r in app.ring.tuples()]
            taken = app.relay.taken if mode == "c" and app.relay is not None else 0
            return found, records, taken

    async def scenario() -> None:
        async with RawServer(scripted) as upstream:
            asgi, _, _ = await answers(upstream.port, "asgi")
            python, python_records, _ = await answers(upstream.port, "python")
            c, c_records, taken = await answers(upstream.port, "c")
        for index, (name, _, _) in enumerate(REQUESTS):
            for tried in range(3):
                at = index * 3 + tried
                assert c[at] == python[at] == asgi[at], (name, tried)
        assert c_records == python_records
        # The usual ones, after the first of each route (the ASGI path's), went through the relay.
        assert taken >= 2 * 9
        ok = c[0][0]
        assert ok.startswith(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-thing: a\r\nx-thing: b\r\n")
        assert b"x-substrate-peer: peer-a\r\ncontent-length: " in ok
        assert b"GET /ok?x=1 HTTP/1.1\r\nhost: hello.computers.com\r\nuser-agent: t" in ok
        hop = c[2 * 3 + 1][0]  # the fields a hop keeps to itself, and a client's own via, stay here
        assert b"keep-alive" not in hop.lower() and b"te: " not in hop and b"me 9" not in hop

    run(scenario)


def first_answered(gone: asyncio.Event) -> Handler:
    """A substrate that answers the first request it gets (on any connection) and no later one: it reads
    until the gateway drops the connection, then sets `gone`."""
    answered: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            answered.append(await reader.readuntil(b"\r\n\r\n"))
            if len(answered) > 1:
                break
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        await reader.read()
        gone.set()

    return handler


@needs_relay
def test_a_client_that_leaves_drops_the_relayed_request(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def scenario() -> None:
        gone = asyncio.Event()

        async with (
            RawServer(first_answered(gone)) as upstream,
            gateway(tmp_path, {"one": (upstream.port, True, True)}) as app,
            serving(app, "c") as (_, port),
        ):
            assert (await exchange(port, usual(b"/hang"), 1))[0].endswith(b"ok")  # caches the route
            await relay_ready(app, upstream.port)
            taken = app.relay.taken
            _, writer = await asyncio.open_connection(HOST, port)
            writer.write(usual(b"/hang"))
            await until(lambda: app.relay.taken == taken + 1, "the relay to take the request")
            assert app.inflight == {"one": 1}
            writer.close()  # the client goes away
            await until(gone.is_set, "the gateway to drop the upstream connection")
            await until(lambda: app.inflight == {"one": 0}, "the in-flight count to drop")
            assert app.ring is not None
            assert [r[5] for r in app.ring.tuples()][-1] == 502

    run(scenario)


@needs_relay
def test_relayed_records_are_kept_in_c_and_read_with_the_python_paths_newest_last(  # type: ignore[no-untyped-def]
    run,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The relay keeps its records in a ring of its own (no tuple per request); the inspector reads them
    with the Python path's, in the order the requests ended, the ring's size of the newest."""
    monkeypatch.setenv(RING_ENV, "4")

    async def scenario() -> None:
        async with (
            RawServer(scripted) as upstream,
            gateway(tmp_path, {"peer-a": (upstream.port, True, True)}) as app,
            serving(app, "c") as (_, port),
        ):
            assert app.ring is not None and app.relay is not None
            await exchange(port, usual(b"/ok?n=1"), 1)  # the Python path's: it caches the route
            assert app.relay.kept_after(0) == []
            for n in range(2, 8):
                await relay_ready(app, upstream.port)
                await exchange(port, usual(b"/ok?n=%d" % n), 1)
            await exchange(port, usual(b"/chunked"), 1)  # a Python-path record after the relay's
            assert app.relay.taken == 6
            kept = app.relay.kept_after(0)
            assert [r[0] for r in kept] == [4, 5, 6, 7]  # its own ring of 4, wrapped round
            assert [(r[2], r[3], r[4], r[5], r[8]) for r in kept] == [
                ("GET", FQDN, "/ok", 200, b"peer-a")
            ] * 4
            assert [r[0] for r in app.relay.kept_after(5)] == [6, 7]
            records = app.ring.after(0, 100)
            assert [r["seq"] for r in records] == [5, 6, 7, 8]  # 8: the chunked one, last to end
            assert [r["substrate"] for r in records] == ["peer-a"] * 4
            assert [r["seq"] for r in app.ring.after(6, 1)] == [8]
            assert records == sorted(records, key=lambda r: r["time"])

    run(scenario)


@needs_relay
def test_a_request_the_substrate_drops_fails_over_only_when_it_may_run_twice(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def scenario() -> None:
        async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nalive")
                await writer.drain()

        answered: set[bytes] = set()

        async def first_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The first request of each method is answered (its route is cached); later ones are dropped
            # after the stale-connection window, as a substrate killed mid-request.
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method = head.split(b" ")[0]
                if method not in answered:
                    answered.add(method)
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nweak")
                    await writer.drain()
                    continue
                await asyncio.sleep(STALE_WINDOW + 0.2)  # the drop comes past a stale connection's window
                return

        async with RawServer(ok) as alive, RawServer(first_then_drop) as dropping:
            substrates = {"dropping": (dropping.port, True, True), "alive": (alive.port, True, False)}
            async with gateway(tmp_path, substrates) as app, serving(app, "c") as (_, port):
                for method in (b"GET", b"POST"):
                    first = await exchange(port, usual(b"/x", method=method), 1)
                    assert first[0].endswith(b"weak")
                    await relay_ready(app, dropping.port)
                    taken = app.relay.taken
                    again = (await exchange(port, usual(b"/x", method=method), 1))[0]
                    assert app.relay.taken == taken + 1
                    if method == b"GET":
                        assert again.endswith(b"alive") and b"x-substrate-peer: alive" in again
                    else:
                        assert again.startswith(b"HTTP/1.1 502 ")
                        assert b"substrate dropping dropped the request: " in again
                assert app.health() == {"inflight": 0, "down": []}

    run(scenario)


@needs_relay
def test_a_relayed_request_answered_too_late_is_a_504(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async def scenario() -> None:
        async with (
            RawServer(first_answered(asyncio.Event())) as upstream,
            gateway(tmp_path, {"slow": (upstream.port, True, True)}) as app,
            serving(app, "c") as (_, port),
        ):
            app.pool.read_timeout = 0.2
            assert (await exchange(port, usual(b"/s"), 1))[0].endswith(b"ok")
            await relay_ready(app, upstream.port)
            taken = app.relay.taken
            late = (await exchange(port, usual(b"/s"), 1))[0]
            assert app.relay.taken == taken + 1
            assert late.startswith(b"HTTP/1.1 504 ")
            assert b"substrate slow did not answer: 127.0.0.1:%d sent nothing" % upstream.port in late
            assert app.inflight == {"slow": 0}

    run(scenario)


def test_the_relay_is_off_when_forced_or_not_built(
    run,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def relay_of_a_gateway() -> None:
        async with gateway(tmp_path, {"peer-a": (1, True, True)}) as app:
            assert app.relay is None and app.http_relay is None

    caplog.set_level(logging.INFO, logger="dream.gateway")
    monkeypatch.setenv(c_relay.ENV, "python")
    assert c_relay.load() == (None, f"{c_relay.ENV}=python")
    run(relay_of_a_gateway)
    assert "the gateway relays every request in Python (slower): DREAM_GATEWAY_RELAY=python" in caplog.text
    caplog.clear()
    monkeypatch.delenv(c_relay.ENV)
    monkeypatch.setitem(sys.modules, "dream.http._relay", None)  # as when it was never built
    assert c_relay.load()[0] is None
    run(relay_of_a_gateway)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "the relay extension is not built" in warnings[0].getMessage()
    assert "build it with scripts/setup-venv" in warnings[0].getMessage()
