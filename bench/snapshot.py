"""Benchmark: `dream snapshot load` to serving, against a universe's plain boot; and the cost of one
forked universe per test (load, first answer, kill), what the `fork_universe` fixture pays.

A daemon with a default-shape universe holding a deployed WAT project is snapshotted once; then each
round boots a fresh default universe (and kills it), and loads the snapshot under a new name until the
project answers PONG (and kills it). With DREAM_BENCH_BASE (bench/base.py), a daemon of that checkout
does the same, its rounds interleaved with this tree's.
Usage: .venv/bin/python bench/snapshot.py [rounds]   (goals: load ≤ boot + 0.5 s; a fork ≤ 1 s per test)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from base import base_tree, load_average
from counts import count_arg

from dream.testing.harness import DaemonProcess
from dream.testing.plugin import FORK_SERVING


def serving(client: Any, universe: str, fqdn: str, deadline: float) -> None:
    port = client.port(universe, "substrate")
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": fqdn}, timeout=5).text == "PONG":
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{universe} never answered PONG")
        time.sleep(0.005)


class Side:
    """A daemon with a snapshot of a universe serving a WAT project, and the figures of its rounds."""

    def __init__(self, label: str, home: Path, tree: Path | None) -> None:
        self.label = label
        self.daemon = DaemonProcess(home, tree=tree).start()
        self.client = client = self.daemon.client()
        client.new_universe("origin")
        root = home.parent / f"saved-{label.replace(' ', '-')}"
        made = client.new_project("origin", "saved", str(root), lang="wat")
        self.fqdn = made["fqdn"]
        files = [
            str(root / "config" / "config.yaml"),
            str(root / "code" / "functions" / "ping_pong" / "main.wat"),
        ]
        client.working_copy_change("origin", "saved", files, path=str(root))
        serving(client, "origin", self.fqdn, time.monotonic() + 60)
        self.saved = client.snapshot_save("origin", "bench")
        self.figures: dict[str, list[float]] = {"boot": [], "load": [], "fork": [], "served": []}

    def round(self, i: int) -> None:
        client, figures = self.client, self.figures
        started = time.monotonic()
        client.new_universe(f"boot{i}")
        figures["boot"].append(time.monotonic() - started)
        client.kill_universe(f"boot{i}")
        started = time.monotonic()
        client.snapshot_load("bench", f"fork{i}")
        serving(client, f"fork{i}", self.fqdn, started + 60)
        figures["load"].append(time.monotonic() - started)
        client.kill_universe(f"fork{i}")
        figures["fork"].append(time.monotonic() - started)
        # What `fork_universe(snapshot, only=FORK_SERVING)` pays per test.
        started = time.monotonic()
        client.snapshot_load("bench", f"serve{i}", only=list(FORK_SERVING))
        serving(client, f"serve{i}", self.fqdn, started + 60)
        client.kill_universe(f"serve{i}")
        figures["served"].append(time.monotonic() - started)

    def report(self) -> None:
        saved, figures = self.saved, self.figures
        median = {name: statistics.median(values) for name, values in figures.items()}
        print(
            f"[{self.label}] snapshot: {saved['bytes'] / 1e6:.2f} MB, saved in {saved['seconds']:.2f} s "
            f"({saved['processes_paused']} processes paused {saved['paused_seconds'] * 1000:.0f} ms)"
        )
        print(f"  boot (new universe, default shape)   median {median['boot']:.3f} s")
        print(
            f"  snapshot load → PONG                 median {median['load']:.3f} s"
            f" (boot + {median['load'] - median['boot']:.3f} s; per round:"
            f" {' '.join(f'{load - boot:+.2f}' for load, boot in zip(figures['load'], figures['boot'], strict=True))})"
        )
        print(f"  one fork per test (load, PONG, kill) median {median['fork']:.3f} s")
        print(
            f"  one fork per test, only {'+'.join(FORK_SERVING)} (load, PONG, kill) median {median['served']:.3f} s"
        )


def main() -> None:
    rounds = count_arg("rounds", 3)
    base = base_tree()
    with tempfile.TemporaryDirectory() as tmp:
        sides: list[Side] = []
        try:
            sides.append(Side("this tree", Path(tmp) / "home", None))
            if base is not None:
                sides.append(Side(f"base {base.name}", Path(tmp) / "base", base))
            print(f"load average before: {load_average()}")
            for i in range(rounds):  # interleaved: each round is measured under the same load
                for side in sides:
                    side.round(i)
            print(f"load average after: {load_average()}")
            for side in sides:
                side.report()
        finally:
            for side in sides:
                side.daemon.stop()
    print("goals: load ≤ boot + 0.5 s; a fork ≤ 1 s per test")


if __name__ == "__main__":
    main()
