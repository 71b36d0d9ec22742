"""Benchmark: `dream snapshot load` to serving, against a universe's plain boot; and the cost of one
forked universe per test (load, first answer, kill), what the `fork_universe` fixture pays.

A daemon with a default-shape universe holding a deployed WAT project is snapshotted once; then each
round boots a fresh default universe (and kills it), and loads the snapshot under a new name until the
project answers PONG (and kills it).
Usage: .venv/bin/python bench/snapshot.py [rounds]   (goals: load ≤ boot + 0.5 s; a fork ≤ 1 s per test)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx
from counts import count_arg

from dream.testing.harness import DaemonProcess
from dream.testing.plugin import FORK_SERVING


def serving(client: object, universe: str, fqdn: str, deadline: float) -> None:
    port = client.port(universe, "substrate")  # type: ignore[attr-defined]
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": fqdn}, timeout=5).text == "PONG":
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{universe} never answered PONG")
        time.sleep(0.005)


def main() -> None:
    rounds = count_arg("rounds", 3)
    with tempfile.TemporaryDirectory() as tmp:
        daemon = DaemonProcess(Path(tmp) / "home").start()
        try:
            client = daemon.client()
            client.new_universe("origin")
            root = Path(tmp) / "saved"
            made = client.new_project("origin", "saved", str(root), lang="wat")
            files = [
                str(root / "config" / "config.yaml"),
                str(root / "code" / "functions" / "ping_pong" / "main.wat"),
            ]
            client.working_copy_change("origin", "saved", files, path=str(root))
            serving(client, "origin", made["fqdn"], time.monotonic() + 60)
            saved = client.snapshot_save("origin", "bench")
            boots, loads, forks, served = [], [], [], []
            for i in range(rounds):  # interleaved: each round is measured under the same load
                started = time.monotonic()
                client.new_universe(f"boot{i}")
                boots.append(time.monotonic() - started)
                client.kill_universe(f"boot{i}")
                started = time.monotonic()
                client.snapshot_load("bench", f"fork{i}")
                serving(client, f"fork{i}", made["fqdn"], started + 60)
                loads.append(time.monotonic() - started)
                client.kill_universe(f"fork{i}")
                forks.append(time.monotonic() - started)
                # What `fork_universe(snapshot, only=FORK_SERVING)` pays per test.
                started = time.monotonic()
                client.snapshot_load("bench", f"serve{i}", only=list(FORK_SERVING))
                serving(client, f"serve{i}", made["fqdn"], started + 60)
                client.kill_universe(f"serve{i}")
                served.append(time.monotonic() - started)
            print(
                f"snapshot: {saved['bytes'] / 1e6:.2f} MB, saved in {saved['seconds']:.2f} s "
                f"({saved['processes_paused']} processes paused {saved['paused_seconds'] * 1000:.0f} ms)"
            )
            print(f"boot (new universe, default shape)   median {statistics.median(boots):.3f} s")
            print(f"snapshot load → PONG                 median {statistics.median(loads):.3f} s")
            print(f"one fork per test (load, PONG, kill) median {statistics.median(forks):.3f} s")
            print(
                f"one fork per test, only {'+'.join(FORK_SERVING)} (load, PONG, kill) "
                f"median {statistics.median(served):.3f} s"
            )
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
