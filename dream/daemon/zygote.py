"""Node processes are forked from a warmed zygote (multiprocessing's forkserver).

The zygote imports the heavy modules once; each node is then a fork of it, so a node starts in
milliseconds instead of paying a cold interpreter and its imports.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess

from dream.node.entry import run

PRELOAD = ["dream.node.preload"]

_lock = threading.Lock()
_context: ForkServerContext | None = None


def context() -> ForkServerContext:
    global _context
    with _lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            assert isinstance(ctx, ForkServerContext)
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


def warm() -> None:
    """Start the zygote now, so the first universe does not wait for it."""
    from multiprocessing import forkserver

    context()
    with _lock:
        forkserver.ensure_running()


def spawn(config_json: str, name: str) -> BaseProcess:
    ctx = context()
    with _lock:  # multiprocessing's child bookkeeping is not thread-safe
        process = ctx.Process(target=run, args=(config_json,), name=name, daemon=False)
        process.start()
    return process


def exit_code(process: BaseProcess) -> int | None:
    """The process's exit code (negative: killed by that signal), None while it runs.

    A forkserver child's exit status is one message on its sentinel pipe: two threads polling at once
    (the supervisor, a status view, `spawn` reaping old children) would see it once and make the other
    read end-of-file, which multiprocessing turns into a made-up code 255. Every poll takes the lock.
    """
    with _lock:
        return process.exitcode


def pid_and_start() -> dict[str, str | int]:
    """The zygote's pid and kernel start time (for clean-up after a daemon killed with -9)."""
    from multiprocessing import forkserver

    from dream.node.runtime import process_start

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    return {"pid": pid or 0, "start": process_start(pid) if pid else ""}
