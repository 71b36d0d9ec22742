"""The daemon's pid file and what it spawned, so a daemon killed with -9 can be cleaned up after."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from dream.process.identity import process_start

log = logging.getLogger("dream.daemon")


def state_path(home: Path, port: int) -> Path:
    return home / f"daemon-{port}.json"


def read_state(home: Path, port: int) -> dict[str, Any] | None:
    try:
        return dict(json.loads(state_path(home, port).read_text()))
    except (OSError, ValueError):
        return None


def is_alive(pid: int, start: str) -> bool:
    return bool(pid) and process_start(pid) == start


def write_state(home: Path, port: int, state: dict[str, Any]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = state_path(home, port)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def remove_state(home: Path, port: int) -> None:
    state_path(home, port).unlink(missing_ok=True)


def clean_stale(home: Path, port: int) -> list[str]:
    """Kill what a dead daemon left running and drop its temporary universes; returns what was done."""
    state = read_state(home, port)
    if state is None:
        return []
    done: list[str] = []
    for node in state.get("nodes", []):
        if is_alive(int(node["pid"]), node["start"]):
            try:
                os.kill(int(node["pid"]), signal.SIGKILL)
                done.append(f"killed left-over node {node['label']} (pid {node['pid']})")
            except ProcessLookupError:
                pass
    zygote = state.get("zygote") or {}
    if zygote.get("pid") and is_alive(int(zygote["pid"]), str(zygote.get("start", ""))):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(zygote["pid"]), signal.SIGKILL)
            done.append(f"killed the left-over zygote (pid {zygote['pid']})")
    for root in state.get("temp_roots", []):
        if Path(root).exists():
            shutil.rmtree(root, ignore_errors=True)
            done.append(f"removed temporary universe directory {root}")
    remove_state(home, port)
    done.append(f"removed the pid file of daemon pid {state.get('pid')}")
    return done
