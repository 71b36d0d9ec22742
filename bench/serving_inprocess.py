"""Benchmark: the substrate's fast path in one process, without sockets: CPU per request.

One connection of dream's HTTP server is fed wrk's request for the WAT ping (`GET /ping`, Host, User-Agent,
Accept) and answers it through `Front.fast_http`, the runner and the wasm call, as under wrk but with no
kernel, no event loop and no other process: the Python and C the substrate runs per request, and nothing
else. The transport only keeps the answers; the loop pass that writes held answers is run after each
request. Prints the CPU per request of each round (the process's CPU time: the epoch ticker's too).

Usage: .venv/bin/python bench/serving_inprocess.py [requests per round, default 5000] [rounds, default 5]
       .venv/bin/python bench/serving_inprocess.py --tail [requests, default 50000]

`--tail` answers the requests one by one and prints the distribution of each one's wall time and its
thread's CPU time (p50, p99, p99.9, max), the garbage collections that ran meanwhile (by generation,
the longest), and the inline calls rerun because the machine stopped them (`Runner.preempted`): a wall
tail the CPU tail does not have is time the process spent without a core.

Compare two commits by running it in each (alternately, several times): the figures move with the
machine's load, the best and the median of a few runs do not move much.
"""

from __future__ import annotations

import gc
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import wasmtime

from dream.http.server import Connection, HttpServer
from dream.substrate import runner as runner_module
from dream.substrate.front import Front
from dream.substrate.routing import Resource
from dream.substrate.runner import ReadyFunction, Runner
from dream.wasm import WasmHost

ROOT = Path(__file__).resolve().parents[1]
PING = ROOT / "fixtures" / "projects" / "hello" / "code" / "functions" / "ping" / "main.wat"
HOST = "hello.computers.com"
REQUEST = f"GET /ping HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n".encode()


class Kept:
    """A transport that keeps what is written."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1)


class Pass:
    """The loop's `call_soon`: the held answers are written by the bench after each request."""

    def call_soon(self, callback: Any) -> None:
        pass


def main() -> None:
    tail = sys.argv[1:2] == ["--tail"]
    args = sys.argv[2:] if tail else sys.argv[1:]
    per_round = int(args[0]) if args else (50000 if tail else 5000)
    rounds = int(args[1]) if len(args) > 1 else 5
    logging.basicConfig(level=logging.WARNING)
    # A loop that runs nothing but calls never lets the epoch ticker in for long; a late tick must not
    # move the function to the worker threads, which this bench has no loop for. With --tail the slice
    # stays: a call the machine stops at it is rerun inline (`Runner.preempted`), and counted.
    runner_module.SLOW_INLINE = 1.0
    if not tail:
        runner_module.INLINE_SLICE = 1.0
    with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp)) as host:
        module = host.load("ping", wasmtime.wat2wasm(PING.read_text()), name="functions/ping")
        resource = Resource("functions", "ping", "bench", "main", "", None, {"name": "ping", "call": "ping"})
        ready = ReadyFunction.of(resource, module)
        ready.inline = True
        front = Front.__new__(Front)  # only its fast path: no resolver, no tns
        front.ready, front.runner, front.ring, front.served = (
            {(HOST, "GET", "/ping"): ready},
            Runner(),
            None,
            0,
        )
        server = HttpServer(front.asgi, fast=front.fast_http)
        server.loop = Pass()  # type: ignore[assignment]
        transport = Kept()
        connection = Connection(server)
        connection.connection_made(transport)

        def run(count: int) -> float:
            started = time.process_time()
            for _ in range(count):
                connection.data_received(REQUEST)
                server._flush()
            return (time.process_time() - started) / count * 1e6

        run(500)
        if tail:
            _tail(connection, server, transport, per_round, front.runner)
            return
        figures = []
        for _ in range(rounds):
            transport.written.clear()
            figures.append(run(per_round))
            answered = sum(1 for data in transport.written if data.endswith(b"\r\n\r\nPONG"))
            assert answered == per_round, f"{per_round - answered} requests were not answered PONG"
    print(
        f"substrate fast path in-process: best {min(figures):.1f} us, median {statistics.median(figures):.1f} us "
        f"CPU per request ({', '.join(f'{f:.1f}' for f in figures)})"
    )


def _tail(connection: Connection, server: HttpServer, transport: Kept, count: int, runner: Runner) -> None:
    collections: list[tuple[int, int]] = []  # (generation, ns)
    began = [0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter_ns()
        else:
            collections.append((info["generation"], time.perf_counter_ns() - began[0]))

    gc.freeze()  # as the substrate does once started
    gc.callbacks.append(collected)
    wall, cpu = [], []
    clock, thread_clock = time.perf_counter_ns, time.thread_time_ns
    try:
        for _ in range(count):
            w, c = clock(), thread_clock()
            connection.data_received(REQUEST)
            server._flush()
            cpu.append(thread_clock() - c)
            wall.append(clock() - w)
            if len(transport.written) > 1000:
                transport.written.clear()
    finally:
        gc.callbacks.remove(collected)
    for name, times in (("wall", wall), ("thread CPU", cpu)):
        times.sort()
        p50, p99, p999 = (times[int(len(times) * q)] / 1e3 for q in (0.5, 0.99, 0.999))
        print(
            f"{name}: p50 {p50:.1f} us, p99 {p99:.1f} us, p99.9 {p999:.1f} us, max {times[-1] / 1e3:.0f} us; "
            f"p99/p50 {p99 / p50:.2f}"
        )
    by_generation = {g: sum(1 for gen, _ in collections if gen == g) for g in range(3)}
    longest = max((ns for _, ns in collections), default=0) / 1e3
    print(f"garbage collections in {count:,} requests: {by_generation} (longest {longest:.0f} us)")
    print(f"inline calls rerun after the machine stopped them: {runner.preempted}")


if __name__ == "__main__":
    main()
