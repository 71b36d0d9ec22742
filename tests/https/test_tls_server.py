"""dream's HTTPS server on its own, over real sockets on one event loop: a handshake waiting for a new
domain's certificate holds up nothing else, racing handshakes share one fetch, and each limit of
`dream.http.tls` holds at its value. Certificates come from a real CA (dream.tls) in a temporary home."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from dream.daemon.ports import free_port
from dream.http.server import HttpServer
from dream.http.tls import Certificates
from dream.node.runtime import bind_tcp
from dream.testing.harness import until
from dream.tls.authority import Authority, home_root

KNOWN = "known.example.com"


class Auth:
    """Stands where auth does: certificates from a real issuer, with each fetch counted; a name can be
    held (its fetch waits) or made to fail."""

    def __init__(self, issuer: Authority) -> None:
        self.issuer = issuer
        self.fetches: list[str] = []
        self.held: dict[str, asyncio.Event] = {}
        self.failing: set[str] = set()
        self.unknown: set[str] = set()

    async def fetch(self, name: str) -> tuple[str, str] | None:
        self.fetches.append(name)
        if name in self.held:
            await self.held[name].wait()
        if name in self.failing:
            raise ConnectionError("auth did not answer")
        if name in self.unknown:
            return None
        issued = self.issuer.issue([name, f"{name}.localhost"])
        return issued.certificate, issued.key


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def auth(home: Path) -> Auth:
    return Auth(home_root(home).issuer_for("tls-tests"))


def client_context(home: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(home / "ca" / "root.pem"))


async def ping(port: int, name: str, context: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=name)
    try:
        writer.write(f"GET /ping HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        return await reader.read()
    finally:
        writer.close()


def serve(
    home: Path, auth: Auth, scenario: Callable[[int, Certificates], Awaitable[None]], **limits: float
) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("every request here is answered by the fast handler")

    async def run() -> None:
        certificates = Certificates(auth.fetch, home / "tls", **limits)  # type: ignore[arg-type]
        server = HttpServer(app, fast=lambda request: (200, [], b"PONG"), tls=certificates)
        port = free_port()
        task = asyncio.create_task(server.serve([bind_tcp(port)]))
        try:
            await until(lambda: server.started, "the server to start")
            async with asyncio.timeout(30):
                await scenario(port, certificates)
        finally:
            server.stop()
            await task

    asyncio.run(run())


def test_a_handshake_waiting_for_its_certificate_holds_up_nothing_else(home: Path, auth: Auth) -> None:
    context = client_context(home)

    async def scenario(port: int, certificates: Certificates) -> None:
        assert (await ping(port, KNOWN, context)).endswith(b"PONG")
        auth.held["new.example.com"] = asyncio.Event()
        slow = asyncio.create_task(ping(port, "new.example.com", context))
        await until(lambda: "new.example.com" in auth.fetches, "the new domain's fetch to start")
        # The new domain's fetch is still waiting: other clients are served meanwhile.
        for _ in range(3):
            assert (await ping(port, KNOWN, context)).endswith(b"PONG")
        assert not slow.done()
        auth.held["new.example.com"].set()
        assert (await slow).endswith(b"PONG")

    serve(home, auth, scenario)


def test_racing_handshakes_for_a_new_domain_share_one_fetch(home: Path, auth: Auth) -> None:
    context = client_context(home)

    async def scenario(port: int, certificates: Certificates) -> None:
        auth.held["race.example.com"] = asyncio.Event()
        clients = [asyncio.create_task(ping(port, "race.example.com.localhost", context)) for _ in range(5)]
        await until(lambda: "race.example.com" in auth.fetches, "the fetch to start")
        auth.held["race.example.com"].set()
        answers = await asyncio.gather(*clients)
        assert all(answer.endswith(b"PONG") for answer in answers)
        assert auth.fetches == ["race.example.com"]
        assert certificates.fetched == 1

    serve(home, auth, scenario)


async def _past(deadline: float, window: float) -> None:
    """Until `deadline` (time.monotonic()) has passed, which is at most `window` seconds away."""
    assert deadline - time.monotonic() <= window
    await until(lambda: time.monotonic() > deadline, "the window to pass")


def test_a_name_refused_is_not_asked_again_until_refused_for_has_passed(home: Path, auth: Auth) -> None:
    context = client_context(home)
    auth.unknown.add("nobody.example.com")

    async def scenario(port: int, certificates: Certificates) -> None:
        for _ in range(2):
            with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
                await ping(port, "nobody.example.com", context)
        assert auth.fetches == ["nobody.example.com"]  # the second was refused from memory
        await _past(certificates.refused["nobody.example.com"][0], 0.3)  # REFUSED_FOR is 0.3 s here
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            await ping(port, "nobody.example.com", context)
        assert auth.fetches == ["nobody.example.com"] * 2
        assert (await ping(port, KNOWN, context)).endswith(b"PONG")

    serve(home, auth, scenario, refused_for=0.3)


def test_auth_away_fails_the_handshake_for_failed_for_then_it_is_tried_again(home: Path, auth: Auth) -> None:
    context = client_context(home)
    auth.failing.add("away.example.com")

    async def scenario(port: int, certificates: Certificates) -> None:
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            await ping(port, "away.example.com", context)
        assert "could not be fetched: auth did not answer" in certificates.refused["away.example.com"][1]
        auth.failing.clear()
        await _past(certificates.refused["away.example.com"][0], 0.3)  # FAILED_FOR
        assert (await ping(port, "away.example.com", context)).endswith(b"PONG")

    serve(home, auth, scenario, failed_for=0.3)


def test_a_certificate_is_fetched_again_after_refresh_after(home: Path, auth: Auth) -> None:
    context = client_context(home)

    async def scenario(port: int, certificates: Certificates) -> None:
        assert (await ping(port, KNOWN, context)).endswith(b"PONG")
        assert (await ping(port, KNOWN, context)).endswith(b"PONG")
        assert auth.fetches == [KNOWN]
        # REFRESH_AFTER past the fetch: the next handshake is served, and a fetch starts.
        fetched_at = certificates.contexts[KNOWN][1]
        await until(lambda: time.monotonic() - fetched_at > 0.3, "REFRESH_AFTER to pass")
        assert (await ping(port, KNOWN, context)).endswith(b"PONG")
        await until(lambda: len(auth.fetches) == 2, "the background fetch")

    serve(home, auth, scenario, refresh_after=0.3)


def test_a_silent_client_is_closed_after_handshake_timeout(
    home: Path, auth: Auth, caplog: pytest.LogCaptureFixture
) -> None:
    context = client_context(home)
    caplog.set_level(logging.INFO, logger="dream.http.tls")

    async def scenario(port: int, certificates: Certificates) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        assert await reader.read() == b""  # closed by the server, having said nothing
        assert time.monotonic() - started >= 0.25
        writer.close()
        assert (await ping(port, KNOWN, context)).endswith(b"PONG")

    serve(home, auth, scenario, handshake_timeout=0.3)
    assert "took more than 0.3s: closed" in caplog.text


def test_a_hello_past_max_hello_is_refused(home: Path, auth: Auth, caplog: pytest.LogCaptureFixture) -> None:
    context = client_context(home)
    caplog.set_level(logging.INFO, logger="dream.http.tls")

    async def scenario(port: int, certificates: Certificates) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # A TLS handshake record that announces more than the limit, then the bytes past it.
        writer.write(b"\x16\x03\x01\x40\x00" + b"\x01" * 2100)
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
        # A real hello is well under it (Python's, with its key shares: about 520 bytes).
        assert (await ping(port, KNOWN, context)).endswith(b"PONG")

    serve(home, auth, scenario, max_hello=2048)
    assert "its TLS hello is larger than 2048 bytes" in caplog.text
