"""A bounded HTTP/1.1 load run: `connections` kept-alive connections, each sending its next request as
soon as the previous answer is in, for `duration` seconds. What `dream bench` measures with.

One request is sent and answered first, outside the timed run: a function's first call loads its module,
which is not what a load run measures (its time is reported apart, `first_ms`).

Responses are parsed with httptools (the parser dream's server uses); latencies are kept per request.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dream.errors import DreamError

MAX_CONNECTIONS = 256  # connections one run may open
MAX_DURATION = 300.0  # seconds one run may last
CONNECT_TIMEOUT = 5.0
FIRST_ANSWER_TIMEOUT = 30.0  # seconds the first request (before the timed run) may take to be answered


@dataclass
class Target:
    """One request, sent again and again."""

    host: str  # where to connect
    port: int
    method: str
    path: str  # with its query
    headers: list[tuple[str, str]]
    body: bytes = b""

    @classmethod
    def from_url(
        cls, url: str, *, method: str = "GET", headers: list[tuple[str, str]] | None = None, body: bytes = b""
    ) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise DreamError(f"{url} is not an http:// URL (example: http://127.0.0.1:8080/ping)")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.hostname, parts.port or 80, method.upper(), path, list(headers or []), body)

    def request(self) -> bytes:
        names = {name.lower() for name, _ in self.headers}
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        if "host" not in names:
            lines.append(f"Host: {self.host}:{self.port}")
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class LoadResult:
    connections: int
    duration: float  # seconds measured
    latencies: array[float] = field(default_factory=lambda: array("d"))  # seconds, one per answer
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # connection problems by kind
    first: float = 0.0  # seconds the first request took, before the timed run

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.duration if self.duration > 0 else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]

    def summary(self) -> dict[str, Any]:
        latency = {
            name: round(self.percentile(share) * 1000, 3)
            for name, share in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        }
        latency["mean"] = (
            round(sum(self.latencies) / len(self.latencies) * 1000, 3) if self.latencies else 0.0
        )
        return {
            "first_ms": round(self.first * 1000, 3),
            "connections": self.connections,
            "duration": round(self.duration, 3),
            "requests": self.requests,
            "requests_per_second": round(self.rate, 1),
            "latency_ms": latency,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "errors": dict(sorted(self.errors.items())),
        }


class _Connection(asyncio.Protocol):
    """One kept-alive connection: send, parse the answer, record it, send again."""

    def __init__(self, request: bytes, result: LoadResult, deadline: float) -> None:
        import httptools

        self.request = request
        self.result = result
        self.deadline = deadline
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent = 0.0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        import httptools

        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"bad answer: {exc}")

    def on_message_complete(self) -> None:
        now = time.perf_counter()
        result = self.result
        result.latencies.append(now - self.sent)
        status = self.parser.get_status_code()
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if now >= self.deadline or not self.parser.should_keep_alive():
            if self.transport is not None:
                self.transport.close()
            return
        self._send()

    def _fail(self, why: str) -> None:
        self.result.errors[why] = self.result.errors.get(why, 0) + 1
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.perf_counter() < self.deadline and exc is not None:
            self._fail(f"connection lost: {exc.__class__.__name__}")
        if not self.closed.done():
            self.closed.set_result(None)


async def _keep_loading(target: Target, request: bytes, result: LoadResult, deadline: float) -> None:
    """One connection slot: reconnect whenever the server closes, until the deadline."""
    loop = asyncio.get_running_loop()
    while time.perf_counter() < deadline:
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(request, result, deadline), target.host, target.port
                ),
                timeout=min(CONNECT_TIMEOUT, max(0.01, deadline - time.perf_counter())),
            )
        except (TimeoutError, OSError) as exc:
            why = (
                "connect timed out"
                if isinstance(exc, asyncio.TimeoutError)
                else f"connect failed: {exc.strerror or exc}"
            )
            result.errors[why] = result.errors.get(why, 0) + 1
            await asyncio.sleep(0.05)  # a server not there yet: do not spin
            continue
        remaining = deadline - time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.shield(protocol.closed), timeout=max(0.0, remaining) + 1.0)
        except TimeoutError:
            # The last answer is late past the deadline: stop waiting for it.
            if protocol.transport is not None:
                protocol.transport.close()
            return


async def _first_answer(target: Target, request: bytes) -> float:
    """Send one request and wait for its answer: how long it took. DreamError when none came."""
    first = LoadResult(connections=1, duration=0.0)
    protocol: _Connection | None = None
    where = f"http://{target.host}:{target.port}{target.path}"
    try:
        async with asyncio.timeout(FIRST_ANSWER_TIMEOUT):
            _, protocol = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(request, first, 0.0), target.host, target.port
            )
            await protocol.closed  # a deadline already past: it closes after one answer
    except TimeoutError:
        raise DreamError(
            f"{target.method} {where} was not answered within {FIRST_ANSWER_TIMEOUT:g}s, so it was not "
            "loaded; check that it answers once (curl), then run the bench again"
        ) from None
    except OSError as exc:
        raise DreamError(f"cannot connect to {where}: {exc.strerror or exc}; is it running?") from None
    finally:
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
    if not first.latencies:
        why = ", ".join(first.errors) or "the connection was closed"
        raise DreamError(f"{target.method} {where} gave no answer to a first request ({why})")
    return first.latencies[0]


def check_run(connections: int, duration: float) -> None:
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise DreamError(f"--connections is between 1 and {MAX_CONNECTIONS}, not {connections}")
    if not 0 < duration <= MAX_DURATION:
        raise DreamError(f"--duration is more than 0s and at most {MAX_DURATION:g}s, not {duration:g}s")


def run_load(target: Target, *, connections: int, duration: float) -> LoadResult:
    """Load `target` with `connections` connections for `duration` seconds."""
    check_run(connections, duration)
    result = LoadResult(connections=connections, duration=duration)
    request = target.request()

    async def main() -> None:
        result.first = await _first_answer(target, request)
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(_keep_loading(target, request, result, deadline) for _ in range(connections)))
        result.duration = time.perf_counter() - started

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # the standard loop does too, a little slower
        asyncio.run(main())
    return result
