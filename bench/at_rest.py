"""Benchmark: a universe at rest, and what its rest costs a lone client.

A daemon starts a universe of every service (the shape `dream new multiverse` starts), the sample
project is built into it and answers PONG. Then, per round:
  at rest   nobody calls for `--rest` seconds: the CPU each process of the daemon uses per second (every
            thread's user and system time, from /proc) and how often it is switched out (voluntary and
            involuntary context switches), summed over the daemon and its nodes;
  lone      wrk with one connection (`-t1 -c1`) on the substrate for `--duration` seconds: p50, p99 and
            p99/p50. With one request in flight the substrate and wrk need a core each; whatever else
            wakes on the machine takes one of those for its time, and the p99 shows it.
With DREAM_BENCH_BASE (bench/base.py), a daemon of that checkout does the same, in rounds alternating
with this tree's. The two universes are never up at once: the other's rest would be noise in each.
Prints each round, then the medians per tree.
Usage: .venv/bin/python bench/at_rest.py [--rounds 3] [--rest 10] [--duration 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from base import base_tree, load_average
from cpu_group import descendants
from serving import HELLO, ensure_wrk, run_wrk, wait_for_pong

from dream.settings import CACHE_ENV
from dream.testing.harness import DaemonProcess, exit_on_sigterm

UNIVERSE = "benchrest"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    tree: str
    cpu_percent: float  # of one core, the daemon and all its descendants at rest
    switches: float  # per second, the same processes
    nodes: int
    p50_ms: float
    p99_ms: float


def usage(pids: list[int]) -> tuple[int, int]:
    """CPU ticks and context switches so far of every thread of `pids` (gone ones count 0)."""
    ticks = switches = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            switches += int(line.split()[1])
            except OSError:
                continue
    return ticks, switches


def at_rest(daemon_pid: int, seconds: float) -> tuple[float, float, int]:
    pids = [daemon_pid, *descendants(daemon_pid)]  # nodes are the daemon's forkserver's children
    ticks0, switches0 = usage(pids)
    began = time.monotonic()
    time.sleep(seconds)  # the measure itself: nobody calls meanwhile
    elapsed = time.monotonic() - began
    ticks1, switches1 = usage(pids)
    return 100.0 * (ticks1 - ticks0) / TICKS / elapsed, (switches1 - switches0) / elapsed, len(pids)


def lone_client(wrk: str, url: str, seconds: float) -> tuple[float, float]:
    """p50 and p99 (ms) of one connection calling `url` for `seconds` (`wrk -t1 -c1`)."""
    result = run_wrk(wrk, "the substrate", url, duration=seconds, connections=1)
    return result.p50_ms, result.p99_ms


def one_round(wrk: str, tree: Path | None, work: Path, args: argparse.Namespace) -> Round:
    name = "base" if tree is not None else "this tree"
    daemon = DaemonProcess(work / "home", cache=work / "cache", tree=tree)
    daemon.start()
    try:
        with daemon.client() as client:
            client.new_universe(UNIVERSE, shape="default")
            client.fixture(UNIVERSE, "buildLocalProject", ["", "", str(HELLO), ""])
            url = f"http://127.0.0.1:{client.port(UNIVERSE, 'substrate')}/ping"
        wait_for_pong(url, timeout=60, what=f"the substrate ({name})")
        lone_client(wrk, url, 1)  # warm: the module loaded, the route cached
        assert daemon.process is not None
        cpu, switches, count = at_rest(daemon.process.pid, args.rest)
        p50, p99 = lone_client(wrk, url, args.duration)
    finally:
        daemon.stop()
    result = Round(name, cpu, switches, count, p50, p99)
    print(
        f"{name}: at rest {cpu:.2f} % of a core, {switches:.0f} switches/s ({count} processes); "
        f"lone client p50 {p50:.3f} ms, p99 {p99:.3f} ms ({p99 / p50:.1f} times p50)",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per tree (default 3)")
    parser.add_argument("--rest", type=float, default=10.0, help="seconds measured at rest (default 10)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of the lone client (default 4)")
    args = parser.parse_args()
    exit_on_sigterm()
    wrk = ensure_wrk()
    base = base_tree()
    print(f"{os.cpu_count()} cores, load average {load_average()}", flush=True)
    trees: list[Path | None] = [None] if base is None else [None, base]
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="dream-bench-rest-") as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds}", flush=True)
            for tree in trees if number % 2 == 0 else trees[::-1]:
                work = Path(tmp) / ("base" if tree is not None else "tree") / str(number)
                rounds.append(one_round(wrk, tree, work, args))
    print()
    print(
        f"{'tree':<10} {'at rest % core':>14} {'switches/s':>10} {'lone p50 ms':>11} {'p99 ms':>7} {'p99/p50':>7}"
    )
    for name in dict.fromkeys(r.tree for r in rounds):
        mine = [r for r in rounds if r.tree == name]
        cpu = statistics.median(r.cpu_percent for r in mine)
        switches = statistics.median(r.switches for r in mine)
        p50 = statistics.median(r.p50_ms for r in mine)
        p99 = statistics.median(r.p99_ms for r in mine)
        print(f"{name:<10} {cpu:>14.2f} {switches:>10.0f} {p50:>11.3f} {p99:>7.3f} {p99 / p50:>7.1f}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    sys.exit(main())
