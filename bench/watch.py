"""Benchmark: `dream watch`, from a save to the new answer being served, for the WAT and Go templates.

A daemon with a `pipeline` universe, a project per language, its first deploy, then `dream watch` on it.
Each round rewrites the function's answer (a new 4-letter word: a new build, never a build-cache hit)
and times from the write until the substrate answers the new word, and the CPU spent meanwhile by the
daemon and all it started (its nodes, the sandboxed build, the compile for the substrates: a cgroup of
its own, `cpu_group.py`; where none can be made, only the daemon's own and its waited-for children's,
which leaves the sandboxed `go build` out). Toolchains are warmed first. With DREAM_BENCH_BASE (bench/base.py), a daemon of that checkout watches its own two projects,
its saves interleaved with this tree's, so both are measured under the same load.
Usage: .venv/bin/python bench/watch.py [rounds]   (goals: WAT <= 0.3 s, Go <= 1 s)
"""

from __future__ import annotations

import contextlib
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
from base import base_tree, load_average
from counts import count_arg
from cpu_group import CpuGroup

from dream.builders.toolchains import warm
from dream.testing.harness import DaemonProcess

SOURCE = {"wat": "main.wat", "go": "ping.go"}


# Between two looks at the answer. Every 2 ms, the requests and the substrate's answers took a core's
# share from the very build and compile being timed (~0.3 s of a Go save on 2 cores); 10 ms costs at
# most 10 ms of precision.
POLL_SECONDS = 0.01
IDLE_SECONDS = 2.0  # how long the universes' CPU is measured at rest, for scale


def wait_answer(web: httpx.Client, word: str, deadline: float) -> None:
    while web.get("/ping").text != word:
        if time.monotonic() > deadline:
            raise SystemExit(f"the function never answered {word}")
        time.sleep(POLL_SECONDS)


class Watched:
    """A project deployed in a daemon's `bench` universe, with `dream watch` following it."""

    def __init__(self, daemon: DaemonProcess, group: CpuGroup | None, tmp: Path, lang: str) -> None:
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
            cwd=daemon.tree,  # `-m` looks in the working directory first: the base's own `dream watch`
        )
        assert self.watcher.stdout is not None
        for line in self.watcher.stdout:
            if "save a file to deploy it" in line:
                break
        self.daemon = daemon
        self.group = group
        self.web = httpx.Client(
            base_url=f"http://127.0.0.1:{client.port('bench', 'substrate')}",
            headers={"host": project["fqdn"]},
            timeout=10,
        )
        wait_answer(self.web, "PONG", time.monotonic() + 60)
        self.previous = "PONG"

    def save(self, word: str) -> tuple[float, float]:
        """Seconds from writing `word` as the new answer until it is served, and the CPU seconds spent."""
        text = self.source.read_text().replace(f'"{self.previous}"', f'"{word}"')
        cpu = self.cpu()
        started = time.monotonic()
        self.source.write_text(text)
        wait_answer(self.web, word, started + 120)
        self.previous = word
        return time.monotonic() - started, self.cpu() - cpu

    def cpu(self) -> float:
        return self.group.seconds() if self.group is not None else daemon_cpu(self.daemon)

    def stop(self) -> None:
        self.web.close()
        os.killpg(self.watcher.pid, signal.SIGINT)
        self.watcher.wait(timeout=10)


def daemon_cpu(daemon: DaemonProcess) -> float:
    """CPU seconds of the daemon and of the children it waited for (build steps), from /proc."""
    assert daemon.process is not None
    fields = Path(f"/proc/{daemon.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


@contextmanager
def daemon_with(home: Path, tree: Path | None = None) -> Iterator[tuple[DaemonProcess, CpuGroup | None]]:
    """A daemon (of the checkout `tree`, else this one) with a `pipeline` universe, and the cgroup
    counting its CPU and its nodes' and builds' (None where none can be made)."""
    daemon = DaemonProcess(home, tree=tree).start()
    assert daemon.process is not None
    group = CpuGroup.make(home.parent.name + "-" + home.name, daemon.process.pid)  # before its nodes start
    try:
        daemon.client().new_universe("bench", shape="pipeline")
        yield daemon, group
    finally:
        daemon.stop()
        if group is not None:
            group.remove()


def line(label: str, times: list[float], cpu: list[float]) -> str:
    return (
        f"{label:24} {statistics.median(times):>7.3f} s {min(times):>7.3f} s {max(times):>7.3f} s"
        f" {statistics.median(cpu):>9.3f} s"
    )


def main() -> None:
    rounds = count_arg("rounds", 5)
    base = base_tree()
    for name in SOURCE:
        warm(name, log=lambda line: None)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        daemon, group = stack.enter_context(daemon_with(tmp / "home"))
        watched = {lang: Watched(daemon, group, tmp, lang) for lang in SOURCE}
        if base is not None:
            old, old_group = stack.enter_context(daemon_with(tmp / "base", base))
            watched |= {
                f"{lang}, base {base.name}": Watched(old, old_group, tmp / "base", lang) for lang in SOURCE
            }
        for project in watched.values():
            stack.callback(project.stop)
        times: dict[str, list[float]] = {label: [] for label in watched}
        cpu: dict[str, list[float]] = {label: [] for label in watched}
        print(f"load average before: {load_average()}")
        groups = {"this tree": group} | ({f"base {base.name}": old_group} if base is not None else {})
        idle = {name: (g, g.seconds()) for name, g in groups.items() if g is not None}
        time.sleep(IDLE_SECONDS)
        for name, (g, before) in idle.items():
            rate = (g.seconds() - before) / IDLE_SECONDS
            print(f"idle CPU of the universe ({name}), included in each save's: {rate:.3f} s per second")
        for i in range(rounds):  # interleaved: each round of each is measured under the same load
            for label, project in watched.items():
                took, spent = project.save(f"W{i:03d}")
                times[label].append(took)
                cpu[label].append(spent)
        print(f"load average after: {load_average()}")
    what = "CPU" if group is not None else "daemon CPU"
    print(f"{'template':24} {'median':>9} {'best':>9} {'worst':>9} {what:>11}   (save → new answer)")
    if group is None:
        print("(no cgroup could be made: the CPU is the daemon's own and its waited-for children's only)")
    for label, measured in times.items():
        print(line(label, measured, cpu[label]))
    print("goals: WAT <= 0.3 s, Go <= 1 s")


if __name__ == "__main__":
    main()
