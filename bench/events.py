"""Benchmark: pub-sub and websockets on one substrate.

In one run, on loopback, with the event tests' `fanout` project (Go functions built by monkey):
  publish    publish → subscribed function run: an HTTP function publishes on `bench`, whose subscriber
             `ack` publishes the same bytes on `chat-acks`, which a websocket client reads. Latency is
             the POST to the websocket message (one at a time, `--messages` of them: p50, p99); then
             the same number published from `--senders` concurrent clients: messages/s end to end.
  websocket  `--clients` websocket clients (half senders, half receivers, one pair per channel
             `chat-p<i>`): each sender sends `--per-client` messages one after the other, each waiting
             for its receiver to get it. Through the substrate a message is published on the channel
             (and forwarded, kept for tail), then pushed to the receiver. Messages/s and p99, beside:
  bare       the same pairs on a bare server of the same libraries (dream's HTTP server and wsproto),
             started here, which relays each message to the other client of its path: nothing else.
Prints the figures and the ratio websocket/bare (goal: ≥ 0.5). Starts its own daemon (throw-away
DREAM_HOME and DREAM_CACHE, free port) and stops all it started, even on failure.

Usage: .venv/bin/python bench/events.py [--messages 200] [--senders 8] [--clients 100] [--per-client 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from dream.daemon.ports import free_port
from dream.http.message import Request
from dream.http.server import HttpServer
from dream.http.websocket import WebSocket
from dream.node.runtime import bind_tcp
from dream.testing.harness import DaemonProcess

ROOT = Path(__file__).resolve().parents[1]
FANOUT = ROOT / "tests" / "events" / "projects" / "fanout"
HOST = {"host": "fanout.events.com"}
UNIVERSE = "benchevents"
SHAPE = {"Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {}}, "Simples": {}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def publish_latency(
    url: str, socket_url: str, messages: int, senders: int
) -> tuple[list[float], float]:
    from websockets.asyncio.client import connect

    async with connect(socket_url, max_size=None) as acks, httpx.AsyncClient(timeout=30) as web:
        # Warm: modules loaded, route tables read.
        for i in range(3):
            await web.post(
                f"{url}/publish", params={"channel": "bench"}, content=f"warm{i}".encode(), headers=HOST
            )
            await asyncio.wait_for(acks.recv(), 60)
        latencies = []
        for i in range(messages):
            data = f"m{i}".encode()
            started = time.perf_counter()
            answer = await web.post(f"{url}/publish", params={"channel": "bench"}, content=data, headers=HOST)
            assert answer.text == "published", answer.text
            while bytes(await asyncio.wait_for(acks.recv(), 30)) != data:
                pass
            latencies.append(time.perf_counter() - started)
        # Throughput: `senders` clients publishing at once, until every ack is in.
        wanted = {f"t{i}".encode() for i in range(messages)}
        queue = list(wanted)

        async def sender() -> None:
            while queue:
                data = queue.pop()
                await web.post(f"{url}/publish", params={"channel": "bench"}, content=data, headers=HOST)

        started = time.perf_counter()
        tasks = [asyncio.create_task(sender()) for _ in range(senders)]
        while wanted:
            wanted.discard(bytes(await asyncio.wait_for(acks.recv(), 60)))
        await asyncio.gather(*tasks)
        rate = messages / (time.perf_counter() - started)
    return latencies, rate


async def pairs(urls: list[str], per_client: int) -> tuple[float, list[float]]:
    """Messages/s and latencies of one sender → receiver pair per url, all at once."""
    from websockets.asyncio.client import connect

    latencies: list[float] = []

    async def pair(url: str) -> None:
        async with connect(url, max_size=None) as sender, connect(url, max_size=None) as receiver:
            await asyncio.sleep(0.2)  # both joined before the first message
            for i in range(per_client):
                data = f"{i}".encode()
                started = time.perf_counter()
                await sender.send(data)
                while bytes(await asyncio.wait_for(receiver.recv(), 30)) != data:
                    pass
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(pair(u) for u in urls))
    return len(urls) * per_client / (time.perf_counter() - started), latencies


class _Relay:
    """The bare server's handler: a message goes to the other clients of its path."""

    rooms: dict[str, set[WebSocket]] = {}

    def __init__(self, path: str) -> None:
        self.path = path

    def opened(self, socket: WebSocket) -> None:
        self.rooms.setdefault(self.path, set()).add(socket)

    def received(self, socket: WebSocket, data: bytes) -> None:
        for other in self.rooms.get(self.path, ()):
            if other is not socket:
                other.send(data)

    def closed(self, socket: WebSocket) -> None:
        self.rooms.get(self.path, set()).discard(socket)


async def bare_server(port: int) -> HttpServer:
    async def upgrade(request: Request) -> _Relay:
        return _Relay(request.path)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = HttpServer(app, upgrade=upgrade)
    asyncio.get_running_loop().create_task(server.serve([bind_tcp(port)]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--per-client", type=int, default=50)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        daemon = DaemonProcess(Path(tmp) / "home", cache=Path(tmp) / "cache").start()
        try:
            client = daemon.client()
            client.new_universe(UNIVERSE, config=SHAPE)
            client.fixture(UNIVERSE, "buildLocalProject", ["", "", str(FANOUT), ""])
            url = f"http://127.0.0.1:{client.port(UNIVERSE, 'substrate')}"
            ws = url.replace("http://", "ws://")

            def socket_path(channel: str) -> str:
                answer = httpx.get(f"{url}/wsurl", params={"channel": channel}, headers=HOST, timeout=60)
                if answer.status_code != 200:
                    raise SystemExit(f"getWebSocketURL failed: {answer.text}")
                return "/" + answer.text

            latencies, rate = asyncio.run(
                publish_latency(url, ws + socket_path("chat-acks"), args.messages, args.senders)
            )
            print(
                f"publish → function: p50 {ms(statistics.median(latencies))}, p99 {ms(percentile(latencies, 0.99))}"
                f" ({args.messages} one at a time); {rate:.0f} messages/s with {args.senders} senders",
                flush=True,
            )
            count = max(1, args.clients // 2)
            paths = [socket_path(f"chat-p{chr(97 + i // 26)}{chr(97 + i % 26)}") for i in range(count)]
            dream_rate, dream_lat = asyncio.run(pairs([ws + p for p in paths], args.per_client))

            async def bare() -> tuple[float, list[float]]:
                port = free_port()
                server = await bare_server(port)
                try:
                    return await pairs([f"ws://127.0.0.1:{port}{p}" for p in paths], args.per_client)
                finally:
                    server.should_exit = True

            bare_rate, bare_lat = asyncio.run(bare())
        finally:
            daemon.stop()
    print(
        f"websocket via substrate: {dream_rate:.0f} messages/s, p99 {ms(percentile(dream_lat, 0.99))} "
        f"({args.clients} clients)"
    )
    print(f"bare wsproto server:     {bare_rate:.0f} messages/s, p99 {ms(percentile(bare_lat, 0.99))}")
    ratio = dream_rate / bare_rate
    print(f"websocket/bare: {ratio:.2f} (goal ≥ 0.5){'' if ratio >= 0.5 else '  BELOW GOAL'}")


if __name__ == "__main__":
    sys.exit(main())
