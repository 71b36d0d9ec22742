"""Runs one step script with /bin/sh (or one command): streamed output, a hard time limit, the whole
process group killed (also when the build is cancelled). `wrap` puts the command in the sandbox
(sandbox.Sandbox.command): its processes then live in their own pid namespace, which dies with bwrap
(--die-with-parent)."""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Puts a command and its environment in a sandbox: returns the command to start and the environment to
# start it with (sandbox.Sandbox.command).
Wrap = Callable[[list[str], Mapping[str, str]], tuple[list[str], dict[str, str]]]


CANCEL_CHECK_SECONDS = 0.05  # how often a running step looks at its build's cancel event


@dataclass(frozen=True)
class StepRun:
    returncode: int | None  # None when the step was killed: it ran too long, or was cancelled
    output: list[str]
    cancelled: bool = False


def run_step(
    script: Path | list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    on_line: Callable[[str], None],
    cancel: threading.Event | None = None,
    wrap: Wrap | None = None,
) -> StepRun:
    """Run a step script with /bin/sh, or a command given as its argv (a list)."""
    argv = script if isinstance(script, list) else ["/bin/sh", str(script)]
    command, command_env = list(argv), dict(env)
    if wrap is not None:
        command, command_env = wrap(command, env)
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=command_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout kills compilers it started too
    )
    lines: list[str] = []
    assert proc.stdout is not None
    stream = proc.stdout

    def pump() -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            on_line(line)

    reader = threading.Thread(target=pump, name="dream-build-log", daemon=True)
    reader.start()
    returncode: int | None = None
    deadline = time.monotonic() + max(timeout, 0.01)
    exited = ExitWaiter(proc)
    try:
        # With a cancel event, look at it every 50 ms: a cancelled job stops its compiler at once.
        while returncode is None and (left := deadline - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set():
                break
            returncode = exited(left if cancel is None else min(left, CANCEL_CHECK_SECONDS))
    finally:
        exited.close()
        # Kill leftovers in the group (also on success: a step must not leave daemons behind).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(timeout=5)
        stream.close()
    return StepRun(returncode, lines, cancelled=returncode is None and cancel is not None and cancel.is_set())


class ExitWaiter:
    """Waits for a process to exit and wakes the moment it does, through a pidfd (Linux >= 5.3).
    `Popen.wait(timeout)` instead looks with sleeps growing to 50 ms: the build went on 35-50 ms after
    a sandboxed step of a save had ended."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pidfd: int | None = None
        self.poller: select.poll | None = None
        with contextlib.suppress(AttributeError, OSError):  # no pidfd_open: Popen.wait's own polling
            self.pidfd = os.pidfd_open(proc.pid)
            self.poller = select.poll()
            self.poller.register(self.pidfd, select.POLLIN)

    def __call__(self, timeout: float) -> int | None:
        """The exit code, or None if the process still runs after `timeout` seconds."""
        if self.poller is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return self.proc.wait(timeout=timeout)
            return None
        self.poller.poll(max(0, math.ceil(timeout * 1000)))
        return self.proc.poll()

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
