"""`run_step` and its `ExitWaiter`: a step's end is seen as it happens (a pidfd), its time limit and its
cancel event still stop it. Real processes only."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dream.builders.runner import ExitWaiter, run_step
from dream.testing.harness import wait_for

# A child that runs until its stdin closes: the test decides when it exits, with no sleep.
UNTIL_STDIN_CLOSES = [sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(7)"]


def until_stdin_closes() -> subprocess.Popen[bytes]:
    return subprocess.Popen(UNTIL_STDIN_CLOSES, stdin=subprocess.PIPE)


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "popen-wait"])
def test_the_waiter_gives_none_while_the_process_runs_and_its_code_once_it_exits(pidfd: bool) -> None:
    proc = until_stdin_closes()
    waiter = ExitWaiter(proc)
    try:
        if not pidfd:
            waiter.close()
            waiter.poller = None  # as on a kernel without pidfd_open
        else:
            assert waiter.poller is not None, "pidfd_open is missing on this Linux"
        assert waiter(0.05) is None
        assert waiter(0) is None
        assert proc.stdin is not None
        proc.stdin.close()
        assert waiter(30) == 7
        assert waiter(0) == 7  # asked again after the exit: the same code
    finally:
        waiter.close()
        proc.kill()
        proc.wait()


def test_a_step_gives_its_exit_code_and_its_output(tmp_path: Path) -> None:
    lines: list[str] = []
    run = run_step(
        ["/bin/sh", "-c", "echo built; echo oops >&2; exit 3"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        timeout=30,
        on_line=lines.append,
    )
    assert run.returncode == 3
    assert run.output == lines == ["built", "oops"]
    assert not run.cancelled


def test_a_step_past_its_time_limit_is_stopped(tmp_path: Path) -> None:
    run = run_step(["/bin/sleep", "30"], cwd=tmp_path, env={}, timeout=0.2, on_line=lambda line: None)
    assert run.returncode is None
    assert not run.cancelled


def test_a_cancelled_step_is_stopped(tmp_path: Path) -> None:
    cancel = threading.Event()
    started = tmp_path / "started"
    # The step says it runs, then the test cancels it: it never ends by itself.
    threading.Thread(
        target=lambda: (wait_for(started.exists, f"{started} to be made", timeout=30), cancel.set()),
        name="cancel-when-started",
        daemon=True,
    ).start()
    run = run_step(
        ["/bin/sh", "-c", f"touch {started}; exec sleep 30"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        on_line=lambda line: None,
        cancel=cancel,
    )
    assert run.cancelled
    assert run.returncode is None
