"""dream.process: children forked from a warmed fork server, settled in, and told apart by start time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dream.process.identity import process_start

ROOT = Path(__file__).resolve().parents[2]


def test_children_of_the_fork_server_run_settle_and_report_their_exit(tmp_path: Path) -> None:
    log = tmp_path / "child" / "node.log"
    done = subprocess.run(
        [sys.executable, "-m", "tests.process.forkserver_scenario", str(log)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # The fork server is a live process, known by pid and start time.
    assert seen["server"]["pid"] > 0 and seen["server"]["start"]
    assert seen["server_start_now"] == seen["server"]["start"]
    # A child's own exit code; a running one has none; one killed by a signal gives minus that signal.
    assert seen["settled"] == 3
    assert seen["running"] is None
    assert seen["killed"] == -9
    # One fork server per process: another preload is refused, and says why.
    assert "preloads ['tests.process.children']; it cannot preload ['json']" in seen["other"]
    # The child's output went to its log (its folder made), under the name it took; stdin read nothing.
    text = log.read_text()
    assert "comm=dream:test-chil" in text  # Linux keeps 15 bytes of a name
    assert "stdin=''" in text


def test_a_process_is_known_by_its_start_time_until_it_is_gone() -> None:
    mine = process_start(os.getpid())
    assert mine and mine == process_start(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start(child.pid)
        assert started and process_start(child.pid) == started
    finally:
        child.kill()
        child.wait(timeout=60)
    assert process_start(child.pid) == ""  # reaped: the pid names nothing now


def test_an_exited_child_not_yet_reaped_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # A zombie keeps its pid until it is reaped; it has exited all the same.
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert process_start(child.pid) == ""
    finally:
        child.wait(timeout=60)
