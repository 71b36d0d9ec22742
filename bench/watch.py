"""Benchmark: `dream watch`, from a save to the new answer being served, for the WAT and Go templates.

A daemon with a `pipeline` universe, a project per language, its first deploy, then `dream watch` on it.
Each round rewrites the function's answer (a new 4-letter word: a new build, never a build-cache hit)
and times from the write until the substrate answers the new word. Toolchains are warmed first.
A second daemon with `DREAM_WASM_COMPILER=optimizing` watches a Go project too, and its saves alternate
with the first daemon's: the baseline compiler against the optimizing one, under the same load.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from counts import count_arg

from dream.builders.toolchains import warm
from dream.testing.harness import DaemonProcess
from dream.wasm.baseline import COMPILER_SETTING

SOURCE = {"wat": "main.wat", "go": "ping.go"}


def wait_answer(web: httpx.Client, word: str, deadline: float) -> None:
    while web.get("/ping").text != word:
        if time.monotonic() > deadline:
            raise SystemExit(f"the function never answered {word}")
        time.sleep(0.002)


class Watched:
    """A project deployed in a daemon's `bench` universe, with `dream watch` following it."""

    def __init__(self, daemon: DaemonProcess, tmp: Path, lang: str) -> None:
        client = daemon.client()
        project = client.new_project("bench", f"watch{lang}", str(tmp / f"watch{lang}"), lang=lang)
        root = Path(project["path"])
        self.source = root / "code" / "functions" / "ping_pong" / SOURCE[lang]
        files = [str(root / "config" / "config.yaml"), str(self.source)]
        first = client.working_copy_change("bench", project["name"], files, path=str(root))
        if first["failed"]:
            raise SystemExit(f"the first deploy failed: {first['failed']}")
        self.watcher = subprocess.Popen(
            [sys.executable, "-m", "dream", "watch", str(root), "-u", "bench"],
            env={**daemon.env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert self.watcher.stdout is not None
        for line in self.watcher.stdout:
            if "save a file to deploy it" in line:
                break
        self.web = httpx.Client(
            base_url=f"http://127.0.0.1:{client.port('bench', 'substrate')}",
            headers={"host": project["fqdn"]},
            timeout=10,
        )
        wait_answer(self.web, "PONG", time.monotonic() + 60)
        self.previous = "PONG"

    def save(self, word: str) -> float:
        """Seconds from writing `word` as the new answer until it is served."""
        text = self.source.read_text().replace(f'"{self.previous}"', f'"{word}"')
        started = time.monotonic()
        self.source.write_text(text)
        wait_answer(self.web, word, started + 120)
        self.previous = word
        return time.monotonic() - started

    def stop(self) -> None:
        self.web.close()
        os.killpg(self.watcher.pid, signal.SIGINT)
        self.watcher.wait(timeout=10)


@contextmanager
def daemon_with(home: Path, **env: str) -> Iterator[DaemonProcess]:
    """A daemon with a `pipeline` universe, started with `env` added to this process's environment."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        daemon = DaemonProcess(home).start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        daemon.client().new_universe("bench", shape="pipeline")
        yield daemon
    finally:
        daemon.stop()


def line(label: str, times: list[float]) -> str:
    return f"{label:24} {statistics.median(times):>7.3f} s {min(times):>7.3f} s {max(times):>7.3f} s"


def main() -> None:
    rounds = count_arg("rounds", 5)
    for name in SOURCE:
        warm(name, log=lambda line: None)
    with (
        tempfile.TemporaryDirectory() as tmp,
        daemon_with(Path(tmp) / "home") as daemon,
        daemon_with(Path(tmp) / "optimizing", **{COMPILER_SETTING: "optimizing"}) as optimizing,
    ):
        watched = {
            "wat": Watched(daemon, Path(tmp), "wat"),
            "go": Watched(daemon, Path(tmp), "go"),
            "go, optimizing compiler": Watched(optimizing, Path(tmp) / "optimizing", "go"),
        }
        times: dict[str, list[float]] = {label: [] for label in watched}
        try:
            for i in range(rounds):  # interleaved: each round of each is measured under the same load
                for label, project in watched.items():
                    times[label].append(project.save(f"W{i:03d}"))
        finally:
            for project in watched.values():
                project.stop()
    print(f"{'template':24} {'median':>9} {'best':>9} {'worst':>9}   (save → new answer)")
    for label, measured in times.items():
        print(line(label, measured))
    print("goals: WAT <= 0.3 s, Go <= 1 s")


if __name__ == "__main__":
    main()
