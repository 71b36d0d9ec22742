"""Targets the fork-server test's children run (importable by reference, as multiprocessing needs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dream.process.child import redirect_output, set_process_name


def settle_and_exit(log_path: str, name: str, code: int) -> None:
    """Settle in as a node does, write what the child sees of itself to its log, exit with `code`."""
    redirect_output(Path(log_path))
    set_process_name(name)
    print(f"comm={Path('/proc/self/comm').read_text().strip()}")
    print(f"stdin={sys.stdin.read()!r}", file=sys.stderr)
    sys.stdout.flush()
    os._exit(code)
