"""What a forked child does first: take a name `ps` shows, and send its output to a log file."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path


def set_process_name(name: str) -> None:
    # Shows `dream:tns@blackhole` in ps/top (Linux truncates to 15 bytes).
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def redirect_output(log_path: Path) -> None:
    """stdout and stderr append to `log_path` (its folder made if need be), stdin reads nothing."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
