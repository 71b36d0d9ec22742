"""Benchmark: `dream watch`, from a save to the new answer being served, for the WAT and Go templates.

A daemon with a `pipeline` universe, a project per language, its first deploy, then `dream watch` on it.
Each round rewrites the function's answer (a new 4-letter word: a new build, never a build-cache hit)
and times from the write until the substrate answers the new word. Toolchains are warmed first.
Usage: .venv/bin/python bench/watch.py [rounds]   (goals: WAT <= 0.3 s, Go <= 1 s)
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

import httpx

from dream.builders.toolchains import warm
from dream.testing.harness import DaemonProcess

SOURCE = {"wat": "main.wat", "go": "ping.go"}


def wait_answer(web: httpx.Client, word: str, deadline: float) -> None:
    while web.get("/ping").text != word:
        if time.monotonic() > deadline:
            raise SystemExit(f"the function never answered {word}")
        time.sleep(0.002)


def run(daemon: DaemonProcess, tmp: Path, lang: str, rounds: int) -> list[float]:
    client = daemon.client()
    project = client.new_project("bench", f"watch{lang}", str(tmp / f"watch{lang}"), lang=lang)
    root = Path(project["path"])
    source = root / "code" / "functions" / "ping_pong" / SOURCE[lang]
    files = [str(root / "config" / "config.yaml"), str(source)]
    first = client.working_copy_change("bench", project["name"], files, path=str(root))
    if first["failed"]:
        raise SystemExit(f"the first deploy failed: {first['failed']}")
    port = client.port("bench", "substrate")
    watcher = subprocess.Popen(
        [sys.executable, "-m", "dream", "watch", str(root), "-u", "bench"],
        env={**daemon.env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    times = []
    try:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            if "save a file to deploy it" in line:
                break
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"host": project["fqdn"]}, timeout=10
        ) as web:
            wait_answer(web, "PONG", time.monotonic() + 60)
            previous = "PONG"
            for i in range(rounds):
                word = f"W{i:03d}"
                text = source.read_text().replace(f'"{previous}"', f'"{word}"')
                started = time.monotonic()
                source.write_text(text)
                wait_answer(web, word, started + 120)
                times.append(time.monotonic() - started)
                previous = word
    finally:
        os.killpg(watcher.pid, signal.SIGINT)
        watcher.wait(timeout=10)
    return times


def main() -> None:
    try:
        rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    except ValueError:
        raise SystemExit(f"usage: {sys.argv[0]} [rounds]   (a whole number, default 5)") from None
    for name in SOURCE:
        warm(name, log=lambda line: None)
    with tempfile.TemporaryDirectory() as tmp:
        daemon = DaemonProcess(Path(tmp) / "home").start()
        try:
            daemon.client().new_universe("bench", shape="pipeline")
            print(
                f"{'template':10} {'median':>9} {'best':>9} {'worst':>9}   (save → new answer; goals: WAT <= 0.3 s, Go <= 1 s)"
            )
            for lang in SOURCE:
                times = run(daemon, Path(tmp), lang, rounds)
                print(
                    f"{lang:10} {statistics.median(times):>7.3f} s {min(times):>7.3f} s {max(times):>7.3f} s"
                )
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
