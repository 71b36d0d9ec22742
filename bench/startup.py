"""Benchmark: `dream new multiverse` to SUCCESS for the default universe, and its memory.

Runs the real command N times (default 5) in the foreground, as a user does, on a free port with a
throw-away DREAM_HOME; prints each run, the median time to `[SUCCESS]`, and the total RSS (and PSS, which
counts shared pages once) of the daemon and every process under it; then stops it with Ctrl-C.
Before each run it also times one Python process that only imports the stack the nodes import (STACK), and
prints the ratio of the two medians: a figure that moves less with the machine's load than either time.
Usage: .venv/bin/python bench/startup.py [runs]
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from dream.daemon.ports import free_port

STACK = ("uvicorn", "starlette", "httpx", "wasmtime", "rich", "typer", "yaml")
RATIO_GOAL = 2.5


def import_time() -> float:
    """Wall time of one fresh interpreter importing STACK and exiting (what any Python tool built on it
    pays before doing anything)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {', '.join(STACK)}"], check=True)
    return time.perf_counter() - started


def tree_memory(pid: int) -> tuple[float, float, int]:
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    rss = pss = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20, len(processes)


def run_once(home: Path, port: int) -> tuple[float, float, float, int]:
    """`dream new multiverse` in the foreground, as a user runs it: time to SUCCESS, memory, then Ctrl-C."""
    env = {**os.environ, "DREAM_HOME": str(home), "DREAM_PORT": str(port)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "dream", "new", "multiverse"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "[SUCCESS]" in line:
                break
            if "[ERROR]" in line:
                raise SystemExit(f"start failed: {line}")
        else:
            raise SystemExit("the multiverse stopped before SUCCESS")
        elapsed = time.perf_counter() - started
        time.sleep(1.0)  # let every node settle after SUCCESS before reading memory (a benchmark, not a test)
        rss, pss, count = tree_memory(process.pid)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C stops everything
        process.wait(timeout=60)
    return elapsed, rss, pss, count


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times, imports, rsses, psses = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            imported = import_time()
            elapsed, rss, pss, count = run_once(Path(tmp), free_port())
            imports.append(imported)
            times.append(elapsed)
            rsses.append(rss)
            psses.append(pss)
            print(
                f"run {i + 1}: {elapsed:.3f} s to SUCCESS, {count} processes, RSS {rss:.0f} MB, PSS {pss:.0f} MB;"
                f" importing the stack {imported:.3f} s"
            )
    success, stack = statistics.median(times), statistics.median(imports)
    print(
        f"median: {success:.3f} s to SUCCESS; RSS {statistics.median(rsses):.0f} MB, "
        f"PSS {statistics.median(psses):.0f} MB (goal: <= 1.5 s and <= 450 MB)"
    )
    print(
        f"importing {', '.join(STACK)}: {stack:.3f} s; SUCCESS takes {success / stack:.2f}x that"
        f" (goal: <= {RATIO_GOAL}x)"
    )


if __name__ == "__main__":
    main()
