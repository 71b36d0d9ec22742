"""Benchmark: what the request inspector costs the PONG fast path, as CPU time per request of the
substrate (and the gateway), with the inspector on (the default) and off (`DREAM_INSPECT=0`).

Three ways, the steadiest first:

- `--switch`: one substrate's serving path in this process (dream's HTTP server on a socket, uvloop,
  `Front.fast_http`, the runner and the one-C-call serve of the WAT ping) under one continuous wrk load,
  its inspector switched on and off every `--period` seconds (the ring and the host-call counts, as
  `DREAM_INSPECT` would set them at start). The process's CPU time and the requests answered in each
  state give the CPU per request on and off; printed per window of `--window` seconds, then the median
  window's ratio (goal: ≤ 1.05, i.e. at most 5 % fewer requests per second for a CPU-bound substrate).
  Both states share the process, its heap, its caches and the machine's load, which two processes don't.
  `--control` leaves the inspector off in both states: the ratio the method shows when nothing changes.
- `--fast-path`: `Front.fast_http` itself in this process, with the inspector off and on (no HTTP, no
  socket), interleaved rounds; the best round of each.
- neither: two daemons, each with a universe of one substrate and one gateway serving the sample
  project's WAT `ping`; rounds of wrk alternate between them (on, off, on, off, ...). For each run the
  substrate's and the gateway's CPU time (user + system, from /proc) is divided by the requests wrk
  counted. Processes alike differ by ±10 % from run to run: this cannot settle 5 %.

In `--switch` and `--fast-path` the records are bound as a substrate binds them (the native ring where
the extension is built). With `DREAM_BENCH_BASE` set to a checkout of an earlier commit (see
`bench/base.py`; its C extensions built), each round runs once with this tree and once with that one,
alternately, each in a process of its own, and both are printed.

Usage: .venv/bin/python bench/inspector.py --switch [--duration 60] [--window 10] [--connections 16] [--control]
       .venv/bin/python bench/inspector.py --fast-path
       .venv/bin/python bench/inspector.py [--duration 4] [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The tree whose `dream` is measured: this one, or (in a child process of an A/B run) the base.
TREE_ENV = "DREAM_BENCH_TREE"
RESULT_ENV = "DREAM_BENCH_RESULT"  # where a child of an A/B run writes its figures (JSON)
sys.path.insert(0, str(ROOT))
if os.environ.get(TREE_ENV):
    sys.path.insert(0, os.environ[TREE_ENV])

from bench.base import base_tree, load_average  # noqa: E402
from bench.serving import HELLO, HOST, SHAPE, ensure_wrk, wait_for_pong, warn_if_busy  # noqa: E402
from dream.settings import CACHE_ENV  # noqa: E402
from dream.testing.harness import DaemonProcess  # noqa: E402

UNIVERSE = "benchinspect"
TICKS = os.sysconf("SC_CLK_TCK")
PING = ROOT / "tests" / "substrate" / "wat" / "ping.wat"  # six host calls, all made in C


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def wrk_requests(wrk: str, url: str, duration: float, connections: int) -> tuple[int, float]:
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "-H", f"Host: {HOST}", url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    done = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (done and rps) or "Non-2xx" in out:
        raise SystemExit(f"wrk's run went wrong:\n{out}")
    return int(done.group(1)), float(rps.group(1))


def _ping_front(stack: contextlib.ExitStack, tmp: Path) -> Any:
    """A Front that knows only the WAT ping at (HOST, GET, /ping), runs it inline, and keeps no records
    yet (see `_records`): what `fast_http` needs, no resolver, no tns."""
    import wasmtime

    from dream.substrate import runner as runner_module
    from dream.substrate.front import Front
    from dream.substrate.routing import Resource
    from dream.substrate.runner import ReadyFunction, Runner
    from dream.wasm import WasmHost

    # A loaded machine makes some calls slow: they must stay on the path being timed.
    runner_module.SLOW_INLINE = 10.0  # type: ignore[misc]
    runner_module.INLINE_SLICE = 5.0  # type: ignore[misc]
    host = stack.enter_context(WasmHost(tmp))
    module = host.load("bench-ping", wasmtime.wat2wasm(PING.read_text()), name="functions/ping")
    resource = Resource("functions", "fn1", "project1", "main", "c", None, {"name": "ping", "call": "ping"})
    ready = ReadyFunction.of(resource, module)
    ready.inline = True
    front = object.__new__(Front)
    front.ready = {(HOST, "GET", "/ping"): ready}
    front.runner = Runner()
    stack.callback(front.runner.close)
    front.served = 0
    front.node = "bench"
    front.ring = None
    return front


def _records(front: Any) -> Any:
    """Make `front`'s ring and bind its record functions as a substrate of its tree does (the native ring
    where the extension is built); the ring, which `_switch` puts in and takes out."""
    from dream.substrate import front as front_module

    os.environ.pop("DREAM_INSPECT", None)
    if hasattr(front, "keep_records"):
        from dream.wasm.native import record_ring

        front.keep_records(native=record_ring())
    else:  # a tree from before the ring in C: a deque of tuples made by `record`/`record_served`
        import functools

        from dream.http.records import make_ring
        from dream.wasm.native import recorder  # type: ignore[attr-defined]

        front.ring = make_ring(front_module.RECORD_FIELDS)
        made = recorder()
        if made is not None:
            front._record = functools.partial(made[0], front.ring)
            front._record_served = functools.partial(made[1], front.ring)
    return front.ring


def _switch(front: Any, ring: Any, on: bool) -> None:
    """The inspector on or off in this process, as DREAM_INSPECT sets it at a substrate's start: its
    ring, and the host-call counts a call makes for the record."""
    from dream.wasm.hostcall import count_calls

    front.ring = ring if on else None
    if hasattr(front, "count_sink"):
        count_calls(on, front.count_sink)
    else:  # a tree from before the counts left in the native ring
        count_calls(on)


def fast_path_cpu(rounds: int = 15, count: int = 4000) -> dict[str, float]:
    """CPU µs per request of the substrate's fast path in this process: `Front.fast_http` on the WAT
    ping (the HTTP parse and write left out), inspector off and on, interleaved; the best round of each."""
    from dream.http.message import Request

    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        front = _ping_front(stack, Path(tmp))
        ring = _records(front)
        request = Request()
        request.method, request.path = "GET", "/ping"
        request.headers = [(b"host", HOST.encode()), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
        for index in range(rounds):
            for mode in ("off", "on") if index % 2 == 0 else ("on", "off"):
                _switch(front, ring, mode == "on")
                started = time.thread_time()
                for _ in range(count):
                    answer = front.fast_http(request)
                spent = (time.thread_time() - started) / count * 1e6
                assert answer is not None and answer[2] == b"PONG", answer
                best[mode] = min(best.get(mode, spent), spent)
        assert ring.seq > 0
    print(
        f"Front.fast_http on the WAT ping, in-process (best of {rounds // 2} rounds x {count}; "
        f"{type(ring).__name__}): inspector off {best['off']:.2f} µs CPU/request, on {best['on']:.2f} µs: "
        f"cost ratio {best['on'] / best['off']:.3f} (load {load_average()})",
        flush=True,
    )
    return best


def switch_cpu(
    duration: float, window: float, period: float, connections: int, control: bool = False
) -> dict[str, Any]:
    """One serving path under wrk, its inspector switched every `period` s: per window of `window` s, the
    CPU per request in each state; the windows' ratios and their median. `control`: the inspector stays
    off in both states (what the method itself shows when nothing changes: about 1.00)."""
    import asyncio
    import gc

    from dream.http.server import HttpServer

    wrk = ensure_wrk()
    windows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        front = _ping_front(stack, Path(tmp))
        ring = _records(front)
        server = HttpServer(front.asgi, fast=front.fast_http, keep_alive=30.0)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/ping"

        async def run() -> None:
            serving = asyncio.ensure_future(server.serve([sock]))
            while not server.started:
                await asyncio.sleep(0.01)
            gc.freeze()  # as the substrate does once started
            warm = await asyncio.create_subprocess_exec(
                wrk, "-t1", f"-c{connections}", "-d1s", "-H", f"Host: {HOST}", url, stdout=subprocess.DEVNULL
            )
            await warm.wait()
            load = await asyncio.create_subprocess_exec(
                wrk, "-t1", f"-c{connections}", f"-d{round(duration)}s", "-H", f"Host: {HOST}", url,
                stdout=subprocess.PIPE,
            )  # fmt: skip
            on = True
            sums = {True: [0.0, 0], False: [0.0, 0]}
            window_began = time.monotonic()
            cpu, served = time.process_time(), front.served
            _switch(front, ring, on and not control)
            while load.returncode is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(load.wait()), period)
                now_cpu, now_served = time.process_time(), front.served
                sums[on][0] += now_cpu - cpu
                sums[on][1] += now_served - served
                on = not on
                _switch(front, ring, on and not control)
                cpu, served = time.process_time(), front.served
                if time.monotonic() - window_began >= window or load.returncode is not None:
                    if sums[True][1] and sums[False][1]:
                        figures = {
                            "on": sums[True][0] / sums[True][1] * 1e6,
                            "off": sums[False][0] / sums[False][1] * 1e6,
                            "requests": sums[True][1] + sums[False][1],
                        }
                        figures["ratio"] = figures["on"] / figures["off"]
                        windows.append(figures)
                        print(
                            f"  window {len(windows)}: on {figures['on']:.2f} µs, off {figures['off']:.2f} µs "
                            f"CPU/request, ratio {figures['ratio']:.3f} ({figures['requests']:,.0f} requests, "
                            f"load {load_average()})",
                            flush=True,
                        )
                    sums = {True: [0.0, 0], False: [0.0, 0]}
                    window_began = time.monotonic()
            await load.communicate()
            server.stop()
            await serving

        try:
            import uvloop  # what a substrate serves on

            uvloop.run(run())
        except ImportError:
            asyncio.run(run())
        assert ring.seq > 0, "no record was kept"
    ratios = [w["ratio"] for w in windows]
    result = {
        "ring": type(ring).__name__,
        "windows": len(windows),
        "ratio": statistics.median(ratios),
        "ratios": (min(ratios), max(ratios)),
        "on": statistics.median(w["on"] for w in windows),
        "off": statistics.median(w["off"] for w in windows),
        "load": load_average(),
    }
    print(
        f"inspector switched every {period} s under wrk ({result['ring']}{', control: off in both' if control else ''}): "
        f"median window on/off "
        f"{result['ratio']:.3f} (windows {result['ratios'][0]:.3f} to {result['ratios'][1]:.3f}, "
        f"{len(windows)} of {window:g} s); CPU/request on {result['on']:.2f} µs, off {result['off']:.2f} µs "
        f"(load {result['load']})",
        flush=True,
    )
    return result


def _ab(args: argparse.Namespace, base: Path) -> None:
    """Each round in a child process of this tree, then of the base (alternating which goes first)."""
    mode = ["--switch"] if args.switch else ["--fast-path"]
    extra = (
        ["--duration", str(args.duration or 60.0), "--window", str(args.window), "--period", str(args.period),
         "--connections", str(args.connections), *(["--control"] if args.control else [])] if args.switch else []
    )  # fmt: skip
    trees = {"this tree": "", f"base ({base})": str(base)}
    kept: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.rounds):
            for name in list(trees) if index % 2 == 0 else list(trees)[::-1]:
                print(f"round {index + 1}, {name}:", flush=True)
                out = Path(tmp) / f"{index}-{len(kept[name])}-{bool(trees[name])}.json"
                env = {**os.environ, TREE_ENV: trees[name], RESULT_ENV: str(out)}
                env.pop("DREAM_BENCH_BASE", None)
                subprocess.run([sys.executable, __file__, *mode, *extra], env=env, check=True)
                kept[name].append(json.loads(out.read_text()))
    print()
    for name, results in kept.items():
        ratios = ", ".join(f"{r['ratio']:.3f}" for r in results)
        print(
            f"{name}: on/off {statistics.median(r['ratio'] for r in results):.3f} (median of {ratios}); "
            f"CPU/request on {statistics.median(r['on'] for r in results):.2f} µs, "
            f"off {statistics.median(r['off'] for r in results):.2f} µs",
            flush=True,
        )


def _keep(result: dict[str, Any]) -> None:
    """A child of an A/B run hands its figures to its parent through RESULT_ENV's file."""
    if os.environ.get(RESULT_ENV):
        Path(os.environ[RESULT_ENV]).write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, help="seconds of load per run (default 4; with --switch, 60 in all)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of on + off (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument(
        "--fast-path", action="store_true", help="only time Front.fast_http in this process (no daemon)"
    )
    parser.add_argument(
        "--switch", action="store_true", help="one serving path under wrk, its inspector switched on and off"
    )
    parser.add_argument(
        "--window", type=float, default=10.0, help="--switch: seconds per window (default 10)"
    )
    parser.add_argument(
        "--period", type=float, default=0.25, help="--switch: seconds per state (default 0.25)"
    )
    parser.add_argument(
        "--control", action="store_true", help="--switch with the inspector off in both states (about 1.00)"
    )
    args = parser.parse_args()
    warn_if_busy()
    base = base_tree()
    if base is not None and (args.switch or args.fast_path):
        _ab(args, base)
        return
    if args.switch:
        _keep(switch_cpu(args.duration or 60.0, args.window, args.period, args.connections, args.control))
        return
    if args.fast_path:
        best = fast_path_cpu()
        _keep({**best, "ratio": best["on"] / best["off"]})
        return
    from dream.http.records import ENV

    args.duration = args.duration or 4.0
    wrk = ensure_wrk()
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="dream-bench-inspect-") as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")
        daemons: dict[str, DaemonProcess] = {}
        targets: dict[str, dict[str, tuple[str, int]]] = {}
        try:
            for mode, value in (("on", "1"), ("off", "0")):
                os.environ[ENV] = value  # the daemon's environment is its nodes'
                daemon = daemons[mode] = DaemonProcess(Path(tmp) / f"home-{mode}")
                daemon.start()
                with daemon.client() as client:
                    client.new_universe(UNIVERSE, SHAPE)
                    client.fixture(UNIVERSE, "buildLocalProject", ["", "", str(HELLO), ""])
                    targets[mode] = {}
                    for name in ("substrate", "gateway"):
                        node = client.node(UNIVERSE, name)
                        url = f"http://127.0.0.1:{client.port(UNIVERSE, name)}/ping"
                        wait_for_pong(url, timeout=30, what=f"the {name} ({mode})")
                        targets[mode][name] = (url, int(node["pid"]))
            for mode in ("on", "off"):
                for url, _ in targets[mode].values():
                    wrk_requests(wrk, url, 1, args.connections)  # warm up
            for index in range(args.rounds):
                for mode in ("on", "off") if index % 2 == 0 else ("off", "on"):
                    for name, (url, pid) in targets[mode].items():
                        # The gateway's requests go through the substrate: both are charged.
                        pids = [pid] if name == "substrate" else [pid, targets[mode]["substrate"][1]]
                        before = sum(cpu_seconds(p) for p in pids)
                        done, rps = wrk_requests(wrk, url, args.duration, args.connections)
                        per = (sum(cpu_seconds(p) for p in pids) - before) / done * 1e6
                        figures.setdefault((name, mode), []).append((per, rps))
                        print(
                            f"round {index + 1} {name:<9} inspector {mode:<3}: {per:6.1f} µs CPU/request, {rps:8,.0f} req/s",
                            flush=True,
                        )
        finally:
            for daemon in daemons.values():
                daemon.stop()
            os.environ.pop(ENV, None)
    print()
    for name in ("substrate", "gateway"):
        on = statistics.median(p for p, _ in figures[(name, "on")])
        off = statistics.median(p for p, _ in figures[(name, "off")])
        rps_on = statistics.median(r for _, r in figures[(name, "on")])
        rps_off = statistics.median(r for _, r in figures[(name, "off")])
        print(
            f"{name:<9} CPU/request on {on:.1f} µs, off {off:.1f} µs: cost ratio {on / off:.3f} (goal ≤ 1.05); "
            f"req/s on {rps_on:,.0f}, off {rps_off:,.0f}"
        )


if __name__ == "__main__":
    main()
