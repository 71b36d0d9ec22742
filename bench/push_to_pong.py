"""Benchmark: `dream inject push-all` → first PONG, for the Go, C and WAT ping_pong templates.

For each language: a new project (its build cache entry cannot exist yet for that exact source, because
the template is touched with a unique comment: "cold"), push-all, then poll the function until it answers
PONG; then push-all again with nothing changed ("same commit": monkeys re-publish what they built); then
a new commit that only touches a README ("new commit, same function": the build cache answers).
Toolchains are warmed first (their one-time costs are not what this measures).
Usage: .venv/bin/python bench/push_to_pong.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from dream.builders.toolchains import warm
from dream.testing.harness import DaemonProcess

COMMENT = {"go": "//", "c": "//", "wat": ";;"}
SOURCE = {"go": "ping.go", "c": "ping.c", "wat": "main.wat"}


def first_pong(client: httpx.Client, url: str, host: str, deadline: float) -> None:
    while client.get(url, headers={"host": host}).text != "PONG":
        if time.monotonic() > deadline:
            raise SystemExit(f"{host} never answered PONG")
        time.sleep(0.005)


def commit_and_push(code: Path, message: str) -> None:
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "commit", "-qam", message], cwd=code, check=True)
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=code, check=True)


def run(lang: str, runs: int) -> tuple[list[float], list[float], list[float]]:
    cold, warm_times, other_file = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        daemon = DaemonProcess(Path(tmp) / "home").start()
        try:
            client = daemon.client()
            client.new_universe("bench", shape="pipeline")
            url = f"http://127.0.0.1:{client.port('bench', 'substrate')}/ping"
            for i in range(runs):
                project = client.new_project("bench", f"{lang}{i}", str(Path(tmp) / f"{lang}{i}"), lang=lang)
                source = Path(project["path"]) / "code" / "functions" / "ping_pong" / SOURCE[lang]
                source.write_text(source.read_text() + f"\n{COMMENT[lang]} bench {time.time_ns()}\n")
                code = source.parents[2]
                commit_and_push(code, "bench")
                with httpx.Client(timeout=10) as web:  # made before the clock starts: it costs ~50 ms
                    for bucket in (cold, warm_times, other_file):
                        if bucket is other_file:  # a new commit that leaves the function as it was
                            readme = code / "README.md"
                            readme.write_text(
                                (readme.read_text() if readme.exists() else "") + f"bench {time.time_ns()}\n"
                            )
                            subprocess.run(["git", "add", "README.md"], cwd=code, check=True)
                            commit_and_push(code, "docs only")
                        started = time.monotonic()
                        result = client.fixture("bench", "pushAll", [project["id"], "", ""])["result"]
                        assert all(j["status"] == "success" for j in result["jobs"]), result
                        first_pong(web, url, project["fqdn"], started + 120)
                        bucket.append(time.monotonic() - started)
        finally:
            daemon.stop()
    return cold, warm_times, other_file


def main() -> None:
    try:
        runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    except ValueError:
        raise SystemExit(f"usage: {sys.argv[0]} [runs]   (runs: a whole number, default 3)") from None
    for name in ("go", "c", "wat"):
        warm(name, log=lambda line: None)
    print(
        f"{'template':10} {'cold cache':>12} {'same commit':>12} {'new commit, same function':>27}"
        "   (medians; goals: Go <= 2 s, WAT <= 0.5 s, unchanged function <= 0.2 s)"
    )
    for lang in ("go", "c", "wat"):
        cold, warm_times, other = run(lang, runs)
        print(
            f"{lang:10} {statistics.median(cold):>10.3f} s {statistics.median(warm_times):>10.3f} s"
            f" {statistics.median(other):>25.3f} s"
        )


if __name__ == "__main__":
    main()
