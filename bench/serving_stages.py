"""Benchmark: the substrate's CPU per PONG request, stage by stage, beside the floor's.

In one run, on loopback, with wrk (1 thread, 64 connections), in 3 interleaved rounds of 5 s, against:
  floor      the raw uvloop + httptools PONG server of `bench/serving.py` (what any Python server pays);
  substrate  the sample project's WAT `ping` on a universe's only substrate;
  timed      the same on a second universe whose substrate times its stages (`DREAM_STAGES=N`,
             `dream/substrate/stages.py`: one entry in N is timed, `--every`, default 16; 1 times all).
For each it reads the process's CPU time (user and system, from the kernel) over the run and divides by
the requests wrk counted. The table then splits the timed substrate's CPU per request into its stages
(exclusive CPU times of the event loop's thread, from its health probe) and the event loop around them
(taken as the floor's whole CPU per request), and sets their sum beside the untimed substrate's measured
CPU (goal: within 10 %); the timers' own cost is the timed substrate's CPU less the untimed one's.
Figures per request are medians over the rounds. Other load on the machine skews them: the load average is printed first.

Usage: .venv/bin/python bench/serving_stages.py [--duration 5] [--rounds 3] [--connections 64] [--every 16]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # the sibling benchmark: its floor server, wrk and waits
    HELLO,
    HOST,
    SHAPE,
    ensure_wrk,
    stop_process,
    wait_for_pong,
    warn_if_busy,
)

from dream.daemon.ports import free_port
from dream.errors import DreamError
from dream.settings import CACHE_ENV
from dream.substrate import stages
from dream.testing.harness import DaemonProcess, UniverseHandle, exit_on_sigterm

# The order stages appear in the table: the order a request meets them.
STAGE_ORDER = ("parse", "route", "event", "call set-up", "wasm call (C)", "store and instance", "guest")
STAGE_ORDER += ("host calls",)
STAGE_ORDER += ("answer", "write")


@dataclass
class Sample:
    """One wrk run against one process: requests and that process's CPU seconds meanwhile."""

    requests: int
    user: float
    system: float
    stages: dict[str, tuple[int, int]] = field(default_factory=dict)  # stage → (exclusive ns, entries)

    def us(self, seconds: float) -> float:
        return seconds / self.requests * 1e6

    @property
    def cpu_us(self) -> float:
        return self.us(self.user + self.system)


def run_wrk(wrk: str, url: str, duration: float, connections: int) -> int:
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "-H", f"Host: {HOST}", url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    found = re.search(r"(\d+) requests in", out.stdout)
    if out.returncode != 0 or not found:
        raise DreamError(f"wrk failed on {url}:\n{out.stdout}{out.stderr}")
    return int(found.group(1))


def stage_totals(universe: UniverseHandle | None) -> dict[str, tuple[int, int]]:
    if universe is None:
        return {}
    found = universe.health("substrate").get("stages", {})
    return {stage: (int(value["ns"]), int(value["count"])) for stage, value in found.items()}


def sample(wrk: str, url: str, pid: int, universe: UniverseHandle | None, args: argparse.Namespace) -> Sample:
    process = psutil.Process(pid)
    before, stages_before = process.cpu_times(), stage_totals(universe)
    requests = run_wrk(wrk, url, args.duration, args.connections)
    after, stages_after = process.cpu_times(), stage_totals(universe)
    stages = {
        name: (ns - stages_before.get(name, (0, 0))[0], count - stages_before.get(name, (0, 0))[1])
        for name, (ns, count) in stages_after.items()
    }
    return Sample(requests, after.user - before.user, after.system - before.system, stages)


def start_universe(home: Path, name: str, *, every: int) -> tuple[DaemonProcess, UniverseHandle, str, int]:
    """A daemon with one universe serving the sample project (its substrate timing one stage entry in
    `every`; 0: untimed); its substrate's URL and pid."""
    if every:
        os.environ[stages.ENV] = str(every)  # the daemon's nodes inherit it
    try:
        daemon = DaemonProcess(home).start()
    finally:
        os.environ.pop(stages.ENV, None)
    client = daemon.client()
    client.new_universe(name, SHAPE)
    client.fixture(name, "buildLocalProject", ["", "", str(HELLO), ""])
    universe = UniverseHandle(client, name)
    substrate = universe.node("substrate")
    return daemon, universe, f"http://127.0.0.1:{universe.port('substrate')}/ping", int(substrate["pid"])


def print_table(floor: list[Sample], plain: list[Sample], timed: list[Sample], every: int) -> None:
    def median(samples: list[Sample], value: Callable[[Sample], float]) -> float:
        return statistics.median(value(s) for s in samples)

    floor_us = median(floor, lambda s: s.cpu_us)
    plain_us = median(plain, lambda s: s.cpu_us)
    timed_us = median(timed, lambda s: s.cpu_us)
    print()
    print(
        f"CPU per request: floor {floor_us:.1f} µs, substrate {plain_us:.1f} µs, timed substrate {timed_us:.1f} µs"
        f" (timing one entry in {every} costs {timed_us - plain_us:+.1f} µs per request)"
    )
    print(f"substrate/floor CPU per request: {plain_us / floor_us:.2f}x")
    print()
    names = [n for n in STAGE_ORDER if any(n in s.stages and s.stages[n][1] for s in timed)]
    names += sorted(n for n in set(timed[0].stages) - set(STAGE_ORDER) if timed[0].stages[n][1])
    rows = [
        (
            name,
            median(timed, lambda s, n=name: s.stages.get(n, (0, 0))[1] / s.requests),
            median(timed, lambda s, n=name: s.stages.get(n, (0, 0))[0] / 1e3 / s.requests),
        )
        for name in names
    ]
    # What timing costs, by difference (timed less untimed CPU per request), spread over the entries:
    # taken off each stage, the table is the untimed substrate's.
    entries_total = sum(entries for _, entries, _ in rows) or 1.0
    per_entry = max(0.0, timed_us - plain_us) / entries_total
    outside = floor_us  # the floor is little else than an event loop, a read and a write per request
    print(f"{'stage':<34} {'entries':>7} {'µs timed':>8} {'µs net':>7} {'share':>6}")
    total = net_total = 0.0
    for name, entries, us in rows:
        net = max(0.0, us - entries * per_entry)
        total += us
        net_total += net
        print(f"{name:<34} {entries:>7.1f} {us:>8.1f} {net:>7.1f} {net / plain_us:>6.0%}")
    print(
        f"{'event loop, reads (as the floor)':<34} {'':>7} {outside:>8.1f} {outside:>7.1f} {outside / plain_us:>6.0%}"
    )
    print(f"{'sum':<34} {'':>7} {total + outside:>8.1f} {net_total + outside:>7.1f}")
    print(f"{'measured':<34} {'':>7} {timed_us:>8.1f} {plain_us:>7.1f}")
    print()
    print(
        f"timed stages + the floor's cost = {total + outside:.1f} µs against the timed substrate's measured"
        f" {timed_us:.1f} µs: {(total + outside) / timed_us:.0%} (goal: within 10%)"
    )
    print(
        f"net (less the timers' cost, {per_entry:.2f} µs per entry by difference) = {net_total + outside:.1f} µs"
        f" against the untimed substrate's {plain_us:.1f} µs: {(net_total + outside) / plain_us:.0%}"
    )
    print(
        "Stage figures are CPU times of the event loop's thread: one entry in"
        f" {every} timed, unpreempted ones kept, scaled back up, the timers' calibrated cost taken off."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per target and round")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the three targets (default 3)")
    parser.add_argument(
        "--every",
        type=int,
        default=16,
        help="the timed substrate times one stage entry in this many (default 16)",
    )
    args = parser.parse_args()
    if args.every < 1:
        parser.error("--every must be a positive whole number")
    exit_on_sigterm()
    wrk = ensure_wrk()
    warn_if_busy()
    floor_samples: list[Sample] = []
    plain_samples: list[Sample] = []
    timed_samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="dream-bench-stages-") as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")
        daemons: list[DaemonProcess] = []
        floor: subprocess.Popen[bytes] | None = None
        try:
            port = free_port()
            serving = Path(__file__).resolve().parent / "serving.py"
            floor = subprocess.Popen(
                [sys.executable, str(serving), "--floor", str(port)],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            floor_url = f"http://127.0.0.1:{port}/ping"
            plain_daemon, _, plain_url, plain_pid = start_universe(
                Path(tmp) / "plain", "stagesplain", every=0
            )
            daemons.append(plain_daemon)
            timed_daemon, timed_universe, timed_url, timed_pid = start_universe(
                Path(tmp) / "timed", "stagestimed", every=args.every
            )
            daemons.append(timed_daemon)
            if not stage_totals(timed_universe):
                raise DreamError("the timed substrate reports no stages: is DREAM_STAGES reaching its nodes?")
            for what, url in (("floor", floor_url), ("substrate", plain_url), ("timed substrate", timed_url)):
                wait_for_pong(url, timeout=30, what=f"the {what}")
                run_wrk(wrk, url, min(2.0, args.duration), args.connections)  # warm up, unrecorded
            for index in range(args.rounds):
                print(f"round {index + 1} of {args.rounds}", flush=True)
                for samples, url, pid, universe, what in (
                    (floor_samples, floor_url, floor.pid, None, "floor"),
                    (plain_samples, plain_url, plain_pid, None, "substrate"),
                    (timed_samples, timed_url, timed_pid, timed_universe, "timed substrate"),
                ):
                    result = sample(wrk, url, pid, universe, args)
                    samples.append(result)
                    rate = result.requests / args.duration
                    print(f"  {what}: {rate:,.0f} req/s, {result.cpu_us:.1f} µs CPU per request", flush=True)
        except DreamError as exc:
            raise SystemExit(f"benchmark failed: {exc}") from None
        finally:
            if floor is not None:
                stop_process(floor)
            for daemon in daemons:
                daemon.stop()
    print_table(floor_samples, plain_samples, timed_samples, args.every)


if __name__ == "__main__":
    main()
