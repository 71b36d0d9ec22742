"""`dream new multiverse` / `dream start`: run the daemon in the foreground or detached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dream.cli.common import client, split, state
from dream.errors import DreamError
from dream.settings import DEFAULT_UNIVERSE, daemon_port, dream_home
from dream.shapes import Shape

START_TIMEOUT = 120.0


def daemon_argv(
    *, port: int, universes: list[str], shape: Shape, keep: bool, fixtures: list[str], branch: str
) -> list[str]:
    argv = [sys.executable, "-m", "dream.daemon", "--port", str(port), "--config", json.dumps(shape.to_api())]
    for name in universes:
        argv += ["--universe", name]
    for fixture in fixtures:
        argv += ["--fixture", fixture]
    if keep:
        argv.append("--keep")
    if branch:
        argv += ["--branch", branch]
    return argv


def start_multiverse(
    *,
    shape: Shape,
    universes: list[str] | None,
    keep: bool,
    fixtures: list[str] | None,
    branch: str,
    detach: bool,
) -> None:
    port = state["port"] or daemon_port()
    with client() as api:
        if api.listening() and api.ping():
            raise DreamError(
                f"a multiverse is already running at {api.url}; use it, or stop it with `dream kill multiverse`"
            )
    names = [n.lower() for n in split(universes)] or [DEFAULT_UNIVERSE]
    argv = daemon_argv(
        port=port, universes=names, shape=shape, keep=keep, fixtures=split(fixtures), branch=branch
    )
    if not detach:
        sys.stdout.flush()
        os.execv(sys.executable, argv)
    run_detached(argv, port)


def run_detached(argv: list[str], port: int) -> None:
    """Start the daemon in its own session, echo its start-up lines, return once it reports the result."""
    home = dream_home()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / f"daemon-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT
    shown = 0
    while time.monotonic() < deadline:
        lines = _read_lines(log_path)
        for line in lines[shown:]:
            print(line, flush=True)
        shown = len(lines)
        if any(line.startswith("[SUCCESS]") for line in lines):
            print(f"Daemon running in the background (pid {process.pid}); log: {log_path}", flush=True)
            return
        if process.poll() is not None:
            raise DreamError(
                f"the daemon stopped during start-up (exit code {process.returncode}); log: {log_path}"
            )
        time.sleep(0.02)
    process.terminate()
    raise DreamError(f"the multiverse did not start within {START_TIMEOUT:.0f}s; log: {log_path}")


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []
