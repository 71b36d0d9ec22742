"""Benchmark: what the build sandbox costs. Medians of interleaved runs, sandboxed and not:

- an empty step (`exit 0`): the wrapper alone, bare bwrap and with the layered compiler cache;
- warm builds of the Go and WAT ping_pong templates (`build_function`, a new source each time, so the
  build cache never answers; the toolchains are warmed first).

Goal: the sandbox adds milliseconds to a build, not seconds.
Usage: .venv/bin/python bench/build_sandbox.py [runs]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from dream.builders import build_function
from dream.builders.env import step_env
from dream.builders.paths import tool_cache_dir
from dream.builders.runner import Wrap, run_step
from dream.builders.sandbox import SANDBOX_ENV, current_sandbox
from dream.builders.toolchains import warm

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates" / "ping_pong"
ENTRY = {"go": ("ping.go", "//"), "wat": ("main.wat", ";;")}


def empty_step(work: Path, wrap: Wrap | None) -> float:
    script = work / "step.sh"
    script.write_text("exit 0\n")
    src = work / "src"
    src.mkdir(exist_ok=True)
    env = step_env(work, src, work / "out")
    started = time.perf_counter()
    run = run_step(script, cwd=src, env=env, timeout=30, on_line=lambda line: None, wrap=wrap)
    assert run.returncode == 0, run.output
    return time.perf_counter() - started


def wrapper_costs(runs: int) -> dict[str, list[float]]:
    sandbox = current_sandbox()
    assert sandbox is not None, f"unset {SANDBOX_ENV} to measure the sandbox"
    times: dict[str, list[float]] = {"no sandbox": [], "bwrap": [], "bwrap + layered cache": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)

            def bare(
                argv: list[str], env: Mapping[str, str], work: Path = work
            ) -> tuple[list[str], dict[str, str]]:
                return sandbox.command(argv, env=env, work=work, cwd=work / "src")

            def layered(
                argv: list[str], env: Mapping[str, str], work: Path = work
            ) -> tuple[list[str], dict[str, str]]:
                return sandbox.command(argv, env=env, work=work, cwd=work / "src", cache=tool_cache_dir())

            times["no sandbox"].append(empty_step(work, None))
            times["bwrap"].append(empty_step(work, bare))
            times["bwrap + layered cache"].append(empty_step(work, layered))
    return times


def one_build(lang: str, tmp: Path, sandboxed: bool) -> float:
    name, comment = ENTRY[lang]
    src = tmp / f"{lang}-{time.time_ns()}"
    shutil.copytree(TEMPLATES / lang, src)
    (src / name).write_text((src / name).read_text() + f"\n{comment} {time.time_ns()}\n")
    if sandboxed:
        os.environ.pop(SANDBOX_ENV, None)
    else:
        os.environ[SANDBOX_ENV] = "off"
    try:
        started = time.perf_counter()
        result = build_function(src, cache_dir=tmp / "cache", log=lambda line: None)
        took = time.perf_counter() - started
    finally:
        os.environ.pop(SANDBOX_ENV, None)
    assert result.ok, result.error
    return took


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    for lang in ENTRY:
        warm(lang, log=lambda line: None)
    print(f"{'empty step':28} {'median':>9}")
    for label, values in wrapper_costs(runs).items():
        print(f"  {label:26} {statistics.median(values) * 1000:>7.1f} ms")
    print(f"{'warm build':28} {'sandboxed':>11} {'no sandbox':>11} {'cost':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ENTRY:
            one_build(lang, Path(tmp), True)  # the first build of a process probes bwrap once
            boxed, bare = [], []
            for _ in range(runs):
                boxed.append(one_build(lang, Path(tmp), True))
                bare.append(one_build(lang, Path(tmp), False))
            a, b = statistics.median(boxed), statistics.median(bare)
            print(f"  {lang:26} {a * 1000:>8.0f} ms {b * 1000:>8.0f} ms {(a - b) * 1000:>+6.0f} ms")


if __name__ == "__main__":
    main()
