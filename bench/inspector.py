"""Benchmark: what the request inspector costs the PONG fast path, as CPU time per request of the
substrate (and the gateway), with the inspector on (the default) and off (`DREAM_INSPECT=0`).

Two daemons, each with a universe of one substrate and one gateway serving the sample project's WAT
`ping`; rounds of wrk alternate between them (on, off, on, off, ...). For each run the substrate's and
the gateway's CPU time (user + system, from /proc) is divided by the requests wrk counted: a figure that
other load on a shared machine changes much less than requests per second. Prints each run, then per
target the median CPU µs per request with the inspector on and off, the cost ratio (goal: ≤ 1.05, i.e. at
most 5 % fewer requests per second for a CPU-bound node) and the median req/s.

The part of the figures that is always measured (the wasm call's clock reads, its memory size and the
host-call counts, in `dream.wasm`) is in both. `--fast-path` times `Front.fast_http` itself in this
process, with the inspector off and on (no daemon, no HTTP): much less noisy; run it with `PYTHONPATH`
set to a checkout from before the inspector to compare with that code.

Usage: .venv/bin/python bench/inspector.py [--duration 4] [--rounds 3] [--connections 16]
       .venv/bin/python bench/inspector.py --fast-path
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import HELLO, HOST, SHAPE, ensure_wrk, wait_for_pong, warn_if_busy  # noqa: E402
from dream.settings import CACHE_ENV  # noqa: E402
from dream.testing.harness import DaemonProcess  # noqa: E402

UNIVERSE = "benchinspect"
TICKS = os.sysconf("SC_CLK_TCK")


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


def fast_path_cpu(rounds: int = 15, count: int = 4000) -> None:
    """CPU µs per request of the substrate's fast path in this process: `Front.fast_http` on the WAT
    ping (the HTTP parse and write left out), inspector off and on, interleaved; the best round of each.
    Run with PYTHONPATH set to another checkout to time that code instead (it needs no ring: the
    inspector rows then time the same code)."""
    import wasmtime

    from dream.http.message import Request

    try:
        from dream.http.records import RequestRing
    except ImportError:  # a checkout from before the inspector: both rows time the same code
        RequestRing = None  # type: ignore[assignment,misc]
    from dream.substrate import front as front_module
    from dream.substrate import runner as runner_module
    from dream.substrate.routing import Resource
    from dream.substrate.runner import ReadyFunction, Runner
    from dream.wasm import WasmHost

    wat = (ROOT / "tests" / "substrate" / "wat" / "ping.wat").read_text()
    fields = getattr(front_module, "RECORD_FIELDS", ("seq",))
    # A loaded machine makes some calls slow: they must stay on the path being timed.
    runner_module.SLOW_INLINE = 10.0  # type: ignore[misc]
    runner_module.INLINE_SLICE = 5.0  # type: ignore[misc]
    try:
        from dream.wasm.hostcall import count_calls
    except ImportError:

        def count_calls(on: bool) -> None:
            pass

    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        fronts = {}
        for mode in ("off", "on"):
            count_calls(mode == "on")  # what the substrate does at start with its inspector on
            host = stack.enter_context(WasmHost(Path(tmp) / mode))
            module = host.load(f"bench-ping-{mode}", wasmtime.wat2wasm(wat), name="functions/ping")
            config = {"name": "ping", "call": "ping"}
            resource = Resource("functions", "fn1", "project1", "main", "c", None, config)
            ready = ReadyFunction.of(resource, module)
            ready.inline = True
            front = object.__new__(front_module.Front)
            front.ready = {(HOST, "GET", "/ping"): ready}
            front.runner = Runner()
            stack.callback(front.runner.close)
            front.served = 0
            front.node = "bench"
            front.ring = RequestRing(fields) if mode == "on" and RequestRing else None
            fronts[mode] = front
        count_calls(False)
        request = Request()
        request.method, request.path = "GET", "/ping"
        request.headers = [(b"host", HOST.encode()), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
        for index in range(rounds):
            for mode in ("off", "on") if index % 2 == 0 else ("on", "off"):
                front = fronts[mode]
                started = time.thread_time()
                for _ in range(count):
                    answer = front.fast_http(request)
                spent = (time.thread_time() - started) / count * 1e6
                assert answer is not None and answer[2] == b"PONG", answer
                best[mode] = min(best.get(mode, spent), spent)
    print(
        f"Front.fast_http on the WAT ping, in-process (best of {rounds // 2} rounds x {count}): "
        f"inspector off {best['off']:.2f} µs CPU/request, on {best['on']:.2f} µs: "
        f"cost ratio {best['on'] / best['off']:.3f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of load per run (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of on + off (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument(
        "--fast-path", action="store_true", help="only time Front.fast_http in this process (no daemon)"
    )
    args = parser.parse_args()
    warn_if_busy()
    if args.fast_path:
        fast_path_cpu()
        return
    from dream.http.records import ENV

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
