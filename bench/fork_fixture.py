"""Benchmark: the `fork_universe` fixture as a test suite sees it, per test.

Runs pytest on a generated suite: a session fixture deploys a WAT project in a default universe and
snapshots it, then each of N tests forks the snapshot (`only=FORK_SERVING`: substrate, tns and hoarder)
and asks its function for PONG. pytest's own durations give each test's setup + call + teardown.
With DREAM_BENCH_BASE (bench/base.py), the suite also runs with dream from that checkout, the two
alternated twice.
Usage: .venv/bin/python bench/fork_fixture.py [tests]   (goal: a forked universe <= 1 s per test)
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from base import base_tree, load_average
from counts import count_arg

SUITE = """
import httpx
import pytest

from dream.testing.harness import wait_for
from dream.testing.plugin import FORK_SERVING


def answer(universe, fqdn):
    port = universe.port("substrate")
    return httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": fqdn}, timeout=30).text


@pytest.fixture(scope="session")
def saved(universe_factory, tmp_path_factory):
    origin = universe_factory("origin")
    root = tmp_path_factory.mktemp("saved") / "saved"
    made = origin.client.new_project("origin", "saved", str(root), lang="wat")
    files = [str(root / "config" / "config.yaml"), str(root / "code" / "functions" / "ping_pong" / "main.wat")]
    assert not origin.client.working_copy_change("origin", "saved", files, path=str(root))["failed"]
    wait_for(lambda: answer(origin, made["fqdn"]) == "PONG", "the project to answer", timeout=60)
    origin.client.snapshot_save("origin", "bench")
    return made["fqdn"]


@pytest.mark.parametrize("round", range({tests}))
def test_a_fork_answers(saved, fork_universe, round):
    fork = fork_universe("bench", only=FORK_SERVING)
    wait_for(lambda: answer(fork, saved) == "PONG", "the fork to answer", timeout=60, every=0.005)
"""
DURATION = re.compile(r"^([\d.]+)s (setup|call|teardown) .*test_a_fork_answers\[(\d+)\]")


def run_suite(tests: int, tree: Path | None) -> tuple[float, list[float]]:
    """Run the generated suite (with dream from `tree`, else this checkout): its time, and each test's
    setup + call + teardown but the first's (which also pays the session's set-up)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "test_forks.py"
        suite.write_text(SUITE.replace("{tests}", str(tests)))
        started = time.monotonic()
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-n",
                "0",
                "-q",
                "--durations=0",
                "--durations-min=0",
                "--rootdir",
                tmp,
                str(suite),
            ],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd=tree or tmp,
        )
        took = time.monotonic() - started
    if run.returncode != 0:
        raise SystemExit(f"the suite failed:\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}")
    per_test: dict[int, float] = {}
    for line in run.stdout.splitlines():
        if (m := DURATION.match(line.strip())) is not None:
            per_test[int(m.group(3))] = per_test.get(int(m.group(3)), 0.0) + float(m.group(1))
    return took, [per_test[i] for i in sorted(per_test) if i > 0]


def main() -> None:
    tests = count_arg("tests", 10)
    base = base_tree()
    sides: dict[str, Path | None] = {"this tree": None}
    if base is not None:
        sides[f"base {base.name}"] = base
    times: dict[str, list[float]] = {label: [] for label in sides}
    print(f"load average before: {load_average()}")
    for _ in range(2 if base is not None else 1):  # alternated: each side's suites under the same load
        for label, tree in sides.items():
            took, measured = run_suite(tests, tree)
            times[label] += measured
            print(
                f"[{label}] {tests} tests in {took:.1f} s (the first pays the session's origin universe and snapshot)"
            )
    print(f"load average after: {load_average()}")
    for label, measured in times.items():
        print(
            f"[{label}] one test with its own fork (setup + call + teardown, tests 2..{tests}): "
            f"median {statistics.median(measured):.3f} s, best {min(measured):.3f} s, worst {max(measured):.3f} s"
            "   (goal <= 1 s)"
        )


if __name__ == "__main__":
    main()
