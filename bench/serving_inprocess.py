"""Benchmark: the substrate's fast path in one process, without sockets: CPU per request.

One connection of dream's HTTP server is fed wrk's request for the WAT ping (`GET /ping`, Host, User-Agent,
Accept) and answers it through `Front.fast_http`, the runner and the wasm call, as under wrk but with no
kernel, no event loop and no other process: the Python and C the substrate runs per request, and nothing
else. The transport only keeps the answers; the loop pass that writes held answers is run after each
request. Prints the CPU per request of each round (the process's CPU time: the epoch ticker's too).

Usage: .venv/bin/python bench/serving_inprocess.py [requests per round, default 5000] [rounds, default 5]
       .venv/bin/python bench/serving_inprocess.py --tail [requests, default 50000]
       .venv/bin/python bench/serving_inprocess.py --wrk [seconds per round, default 4] [rounds, default 3]

`--tail` answers the requests one by one and prints the distribution of each one's wall time and its
thread's CPU time (p50, p99, p99.9, max), the garbage collections that ran meanwhile (by generation,
the longest), and the inline calls rerun because the machine stopped them (`Runner.preempted`): a wall
tail the CPU tail does not have is time the process spent without a core.

`--wrk` serves the same fast path on a real socket (dream's HTTP server on uvloop, in this process) and
runs wrk on it (64 connections, `--latency`) in rounds alternating with the floor of `bench/serving.py`
(a raw uvloop + httptools PONG server, in a subprocess). Per round: wrk's p50/p99 of both, and for
this process the loop's passes (requests read per pass, a pass's wall and its thread CPU time, from its
first read to the end of its writes), the time the loop thread was runnable but had no core (the
kernel's `schedstat`) beside the floor's, garbage collections, the epoch ticker's wake-ups, the inline
calls rerun after a stop and whether the function stayed inline: where a request's p99 goes.

Compare two commits by running it in each (alternately, several times): the figures move with the
machine's load, the best and the median of a few runs do not move much.
"""

from __future__ import annotations

import gc
import logging
import statistics
import sys
import tempfile
import threading
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


def serving(host: WasmHost) -> tuple[Front, HttpServer, ReadyFunction]:
    """The substrate's fast path for the WAT ping, inline: its Front (only that part: no resolver, no
    tns), an HTTP server answering through it, and the function."""
    module = host.load("ping", wasmtime.wat2wasm(PING.read_text()), name="functions/ping")
    resource = Resource("functions", "ping", "bench", "main", "", None, {"name": "ping", "call": "ping"})
    ready = ReadyFunction.of(resource, module)
    ready.inline = True
    front = Front.__new__(Front)
    front.ready, front.runner, front.ring, front.served = ({(HOST, "GET", "/ping"): ready}, Runner(), None, 0)
    return front, HttpServer(front.asgi, fast=front.fast_http), ready


def main() -> None:
    if sys.argv[1:2] == ["--wrk"]:
        under_wrk(*(int(a) for a in sys.argv[2:4]))
        return
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
        front, server, _ = serving(host)
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


# -- --wrk: the same path on a socket under wrk, beside the floor ---------------------------------------


class Passes:
    """Each loop pass that answered requests: requests read, wall and loop-thread CPU (ns) from its first
    read to the end of its writes."""

    def __init__(self) -> None:
        self.reads: list[int] = []
        self.wall: list[int] = []
        self.cpu: list[int] = []
        self.count = 0
        self.began = self.cpu_began = 0

    def read(self) -> None:
        if not self.count:
            self.began, self.cpu_began = time.perf_counter_ns(), time.thread_time_ns()
        self.count += 1

    def flushed(self) -> None:
        self.wall.append(time.perf_counter_ns() - self.began)
        self.cpu.append(time.thread_time_ns() - self.cpu_began)
        self.reads.append(self.count)
        self.count = 0


def _waited_ns(path: str) -> int:
    """ns a thread (or a process's main thread) was runnable but not running, so far (`schedstat`)."""
    try:
        return int(Path(path).read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _q(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def under_wrk(seconds: int = 4, rounds: int = 3) -> None:
    import asyncio
    import os
    import subprocess

    import uvloop

    sys.path.insert(0, str(ROOT))
    from bench.serving import ensure_wrk, run_wrk, wait_for_pong, warn_if_busy
    from dream.daemon.ports import free_port
    from dream.node.runtime import bind_tcp

    wrk = ensure_wrk()
    warn_if_busy()
    logging.basicConfig(level=logging.WARNING)
    floor_port, port = free_port(), free_port()
    floor = subprocess.Popen([sys.executable, str(ROOT / "bench" / "serving.py"), "--floor", str(floor_port)])
    with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp)) as host:
        front, server, ready = serving(host)
        passes = Passes()
        read, flush = Connection.data_received, server._flush

        def counted_read(connection: Connection, data: bytes) -> None:
            passes.read()
            read(connection, data)

        def counted_flush() -> None:
            flush()
            passes.flushed()

        Connection.data_received = counted_read  # type: ignore[method-assign]
        server._flush = counted_flush  # type: ignore[method-assign]
        collections = [0]
        gc.freeze()  # as the substrate does once started
        gc.callbacks.append(
            lambda phase, info: collections.__setitem__(0, collections[0] + (phase == "stop"))
        )

        async def run() -> None:
            serving_task = asyncio.ensure_future(server.serve([bind_tcp(port)]))
            loop_thread = f"/proc/self/task/{threading.get_native_id()}/schedstat"
            try:
                for url in (f"http://127.0.0.1:{floor_port}/ping", f"http://127.0.0.1:{port}/ping"):
                    await asyncio.to_thread(wait_for_pong, url, timeout=30, what="the server")
                    await asyncio.to_thread(run_wrk, wrk, "warm-up", url, duration=1, connections=64)
                for number in range(rounds):
                    waited = _waited_ns(f"/proc/{floor.pid}/schedstat")
                    result = await asyncio.to_thread(
                        run_wrk,
                        wrk,
                        "floor",
                        f"http://127.0.0.1:{floor_port}/ping",
                        duration=seconds,
                        connections=64,
                    )
                    floor_waited = (_waited_ns(f"/proc/{floor.pid}/schedstat") - waited) / seconds / 1e6
                    print(
                        f"round {number + 1}, load {os.getloadavg()[0]:.1f}: floor {result.rps:,.0f} req/s, "
                        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms (p99/p50 "
                        f"{result.p99_ms / result.p50_ms:.1f}); runnable without a core {floor_waited:.0f} ms/s",
                        flush=True,
                    )
                    passes.__init__()  # type: ignore[misc]
                    collections[0], preempted, served = 0, front.runner.preempted, front.served
                    waited, cpu = _waited_ns(loop_thread), time.process_time()
                    result = await asyncio.to_thread(
                        run_wrk,
                        wrk,
                        "substrate",
                        f"http://127.0.0.1:{port}/ping",
                        duration=seconds,
                        connections=64,
                    )
                    loop_waited = (_waited_ns(loop_thread) - waited) / seconds / 1e6
                    answered = front.served - served
                    cpu_us = (time.process_time() - cpu) / max(1, answered) * 1e6
                    print(
                        f"  substrate fast path {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 "
                        f"{result.p99_ms:.2f} ms (p99/p50 {result.p99_ms / result.p50_ms:.1f}); "
                        f"{cpu_us:.1f} µs CPU per request (process); loop thread runnable without a core "
                        f"{loop_waited:.0f} ms/s",
                        flush=True,
                    )
                    us = 1e3
                    print(
                        f"  {len(passes.reads):,} passes: requests read per pass p50 {_q(passes.reads, 0.5):.0f}, "
                        f"p99 {_q(passes.reads, 0.99):.0f}, max {max(passes.reads, default=0)}; pass wall p50 "
                        f"{_q(passes.wall, 0.5) / us:.0f} µs, p99 {_q(passes.wall, 0.99) / us:.0f} µs, max "
                        f"{max(passes.wall, default=0) / us:.0f} µs; pass CPU p50 {_q(passes.cpu, 0.5) / us:.0f} µs, "
                        f"p99 {_q(passes.cpu, 0.99) / us:.0f} µs",
                        flush=True,
                    )
                    lost = sum(w - c for w, c in zip(passes.wall, passes.cpu, strict=True) if w - c > 200_000)
                    print(
                        f"  passes' wall beyond their CPU by over 0.2 ms: {lost / 1e6 / seconds:.0f} ms/s; garbage "
                        f"collections {collections[0]}; inline calls rerun after a stop "
                        f"{front.runner.preempted - preempted}; still inline: {ready.inline}; answered inline "
                        f"{answered:,} of {result.rps * seconds:,.0f}",
                        flush=True,
                    )
            finally:
                server.stop()
                await serving_task

        try:
            uvloop.run(run())
        finally:
            floor.terminate()
            floor.wait(timeout=10)
            front.runner.close()


if __name__ == "__main__":
    main()
