"""Runs one step script with /bin/sh: streamed output, a hard time limit, the whole process group killed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StepRun:
    returncode: int | None  # None when the step was killed for running too long
    output: list[str]


def run_step(
    script: Path,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    on_line: Callable[[str], None],
) -> StepRun:
    proc = subprocess.Popen(
        ["/bin/sh", str(script)],
        cwd=cwd,
        env=dict(env),
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
    returncode: int | None
    try:
        returncode = proc.wait(timeout=max(timeout, 0.01))
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        # Kill leftovers in the group (also on success: a step must not leave daemons behind).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(timeout=5)
        stream.close()
    return StepRun(returncode, lines)
