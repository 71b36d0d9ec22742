"""How a node learns that its daemon is gone (`Node._daemon_exit`), on real processes: a pidfd wakes it
when the process exits (no looking twice a second meanwhile), a pid already reused is not mistaken for
the daemon, and without pidfds the caller looks at /proc instead."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from dream.node.runtime import Node
from dream.process.identity import process_start


def _stand_in() -> subprocess.Popen[bytes]:
    """A process standing for the daemon: it runs until its stdin closes."""
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)


def test_the_exit_is_seen_when_it_happens_and_not_before() -> None:
    daemon = _stand_in()
    try:

        async def scenario() -> None:
            watch = asyncio.create_task(Node._daemon_exit(daemon.pid, process_start(daemon.pid)))
            done, _ = await asyncio.wait({watch}, timeout=0.5)
            assert not done, "the daemon is running: nothing to see yet"
            assert daemon.stdin is not None
            daemon.stdin.close()  # the stand-in exits (its parent, this test, reaps it later)
            async with asyncio.timeout(10):
                assert await watch is True

        asyncio.run(scenario())
    finally:
        daemon.kill()
        daemon.wait(timeout=10)


def test_a_pid_that_is_not_the_daemon_any_more_is_gone_at_once() -> None:
    other = _stand_in()
    try:
        # The same pid, another start time: what a pid reused after the daemon's exit looks like.
        assert asyncio.run(asyncio.wait_for(Node._daemon_exit(other.pid, "1"), timeout=10)) is True
    finally:
        other.kill()
        other.wait(timeout=10)


def test_without_pidfds_the_caller_looks_at_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", refused)
    assert asyncio.run(Node._daemon_exit(os.getpid(), process_start(os.getpid()))) is False
