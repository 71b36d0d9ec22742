"""The CPU a daemon and everything it starts spend, build steps included, from a cgroup (v2) of its own.

A build step runs in a sandbox whose processes are never waited for by the daemon (bwrap's init reaps
them in the sandbox's pid namespace), so `/proc`'s counts of the daemon and its children leave `go
build` out. A cgroup counts every process that starts in it, wherever it is reaped. Making one needs
root and a writable cgroup2 hierarchy; without them `CpuGroup.make` gives None and benches fall back
to `/proc` (`daemon_cpu`), saying so.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

# Where a cgroup2 hierarchy is mounted: a unified-only system, or the `unified` part of a hybrid one.
CGROUP2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
EMPTY_WAIT = 10.0  # seconds a stopped daemon's last processes get to leave the group before it is removed


class CpuGroup:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def make(cls, name: str, pid: int) -> CpuGroup | None:
        """A new cgroup holding process `pid` and those it started (the processes they start from then on
        are counted too), or None when none can be made here."""
        for root in CGROUP2_ROOTS:
            if not (root / "cgroup.procs").is_file() or not (root / "cpu.stat").exists():
                continue
            path = root / f"dream-bench-{name}-{os.getpid()}"
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                for member in (pid, *descendants(pid)):  # the daemon's zygote, which forks its nodes
                    (path / "cgroup.procs").write_text(str(member))
            except OSError:
                path.rmdir()
                continue
            return cls(path)
        return None

    def seconds(self) -> float:
        """CPU seconds spent in the group so far (every process in it, living or gone)."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        raise RuntimeError(f"{self.path}/cpu.stat has no usage_usec")

    def remove(self) -> None:
        """Remove the group once its processes are gone (waiting a little for the last ones to exit)."""
        deadline = time.monotonic() + EMPTY_WAIT
        while (self.path / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(OSError):  # still in use: left for the system to clean
            self.path.rmdir()


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found
