"""Child processes forked from a warmed fork server (multiprocessing's forkserver).

The fork server imports the modules it is told to preload once; each child is then a fork of it, so it
starts in milliseconds instead of paying a cold interpreter and its imports. multiprocessing keeps one
fork server per process: this module holds its one context, and every call names the same preload.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

from dream.process.identity import process_start

_lock = threading.Lock()
_context: ForkServerContext | None = None
_preload: tuple[str, ...] = ()


def context(preload: Sequence[str]) -> ForkServerContext:
    """The fork server's context, told to preload `preload` the first time."""
    global _context, _preload
    with _lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            assert isinstance(ctx, ForkServerContext)
            ctx.set_forkserver_preload(list(preload))
            _context, _preload = ctx, tuple(preload)
        elif tuple(preload) != _preload:
            raise ValueError(
                f"this process's fork server preloads {list(_preload)}; it cannot preload {list(preload)} "
                "as well (multiprocessing runs one fork server per process)"
            )
        return _context


def start(preload: Sequence[str]) -> None:
    """Start the fork server now, so the first child does not wait for it."""
    from multiprocessing import forkserver

    context(preload)
    with _lock:
        forkserver.ensure_running()


def spawn(
    preload: Sequence[str], target: Callable[..., Any], args: tuple[Any, ...], name: str
) -> BaseProcess:
    """A new child that runs `target(*args)`, forked from the fork server."""
    ctx = context(preload)
    with _lock:  # multiprocessing's child bookkeeping is not thread-safe
        process = ctx.Process(target=target, args=args, name=name, daemon=False)
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
    """The fork server's pid and kernel start time (to clean up after a parent killed with -9)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    return {"pid": pid or 0, "start": process_start(pid) if pid else ""}
