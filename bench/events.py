"""Benchmark: pub-sub and websockets on one substrate (and the gateway in front of it).

In one run, on loopback, with the event tests' `fanout` project (Go functions built by monkey):
  publish    publish → subscribed function run: an HTTP function publishes on `bench`, whose subscriber
             `ack` publishes the same bytes on `chat-acks`, which a websocket client reads. Latency is
             the POST to the websocket message (one at a time, `--messages` of them: p50, p99); then
             the same number published from `--senders` concurrent clients: messages/s end to end.
  websocket  `--clients` websocket clients (half senders, half receivers, one pair per channel
             `chat-p<i>`): each sender sends `--per-client` messages one after the other, each waiting
             for its receiver to get it. Through the substrate a message is published on the channel
             (and forwarded, kept for tail), then pushed to the receiver; through the gateway the same,
             relayed. Messages/s and p99, beside:
  bare       the same pairs on a bare server of the same libraries (dream's HTTP server and wsproto, on
             uvloop in a process of its own, as a substrate is), which relays each message to the other
             client of its path: nothing else.
The websocket rounds are interleaved (`--rounds` of substrate, gateway, bare, in a rotating order), so
a busy moment of the shared machine falls on each alike. Prints each round, the median of each, and the
ratios substrate/bare and gateway/bare (goal: ≥ 0.5). Starts its own daemon (throw-away DREAM_HOME and
DREAM_CACHE, free port) and stops all it started, even on failure.

Usage: .venv/bin/python bench/events.py [--messages 200] [--senders 8] [--clients 100] [--per-client 50]
                                        [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
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
SHAPE = {"Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {}, "gateway": {}}, "Simples": {}}


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


async def bare_server(port: int) -> None:
    """The bare server, until killed (run in a process of its own: `--bare-server PORT`)."""

    async def upgrade(request: Request) -> _Relay:
        return _Relay(request.path)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await HttpServer(app, upgrade=upgrade).serve([bind_tcp(port)])


def start_bare() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)])
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("the bare server did not start") from None
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--per-client", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        import uvloop

        uvloop.run(bare_server(args.bare_server))
        return
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
            gateway = f"ws://127.0.0.1:{client.port(UNIVERSE, 'gateway')}"
            bare, port = start_bare()
            try:
                bases = {"substrate": ws, "gateway": gateway, "bare": f"ws://127.0.0.1:{port}"}
                rates: dict[str, list[float]] = {name: [] for name in bases}
                p99s: dict[str, list[float]] = {name: [] for name in bases}
                names = list(bases)
                for round_ in range(args.rounds):
                    order = names[round_ % 3 :] + names[: round_ % 3]
                    for name in order:
                        rate, lat = asyncio.run(pairs([bases[name] + p for p in paths], args.per_client))
                        rates[name].append(rate)
                        p99s[name].append(percentile(lat, 0.99))
                        print(
                            f"round {round_ + 1} {name:9}: {rate:.0f} messages/s, p99 {ms(p99s[name][-1])}, "
                            f"load {os.getloadavg()[0]:.2f}",
                            flush=True,
                        )
            finally:
                bare.kill()
                bare.wait()
        finally:
            daemon.stop()
    bare_rate = statistics.median(rates["bare"])
    for name in names:
        print(
            f"websocket via {name:9}: median {statistics.median(rates[name]):.0f} messages/s, "
            f"p99 {ms(statistics.median(p99s[name]))} ({args.clients} clients)"
        )
    for name in ("substrate", "gateway"):
        ratio = statistics.median(rates[name]) / bare_rate
        per_round = ", ".join(f"{r / b:.2f}" for r, b in zip(rates[name], rates["bare"], strict=True))
        print(
            f"{name}/bare: {ratio:.2f} (rounds: {per_round}; goal ≥ 0.5){'' if ratio >= 0.5 else '  BELOW GOAL'}"
        )


if __name__ == "__main__":
    sys.exit(main())
