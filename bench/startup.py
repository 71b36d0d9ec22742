"""Benchmark: `dream new multiverse --daemon` to SUCCESS for the default universe, and its memory.

Runs the real CLI N times (default 5) on a free port with a throw-away DREAM_HOME, prints each run, the
median start time, and the total RSS (and PSS, which counts shared pages once) of the daemon and every
process under it. Usage: .venv/bin/python bench/startup.py [runs]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from dream.daemon.ports import free_port


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
    env = {**os.environ, "DREAM_HOME": str(home), "DREAM_PORT": str(port)}
    dream = [sys.executable, "-m", "dream"]
    started = time.perf_counter()
    result = subprocess.run(
        [*dream, "new", "multiverse", "--daemon"], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or "[SUCCESS]" not in result.stdout:
        raise SystemExit(f"start failed:\n{result.stdout}\n{result.stderr}")
    state = json.loads((home / f"daemon-{port}.json").read_text())
    time.sleep(1.0)  # let every node settle after SUCCESS before reading memory (a benchmark, not a test)
    rss, pss, count = tree_memory(int(state["pid"]))
    subprocess.run([*dream, "kill", "multiverse"], env=env, capture_output=True, check=True)
    return elapsed, rss, pss, count


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times, rsses, psses = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            elapsed, rss, pss, count = run_once(Path(tmp), free_port())
            times.append(elapsed)
            rsses.append(rss)
            psses.append(pss)
            print(
                f"run {i + 1}: {elapsed:.3f} s to SUCCESS, {count} processes, RSS {rss:.0f} MB, PSS {pss:.0f} MB"
            )
    print(
        f"median: {statistics.median(times):.3f} s to SUCCESS; RSS {statistics.median(rsses):.0f} MB, "
        f"PSS {statistics.median(psses):.0f} MB (goal: <= 1.5 s and <= 450 MB)"
    )


if __name__ == "__main__":
    main()
