"""A thread's CPU priority. On Linux niceness is per thread, and a thread starts with its creator's."""

from __future__ import annotations

import os
import threading


def lower_thread_priority(nice: int) -> int | None:
    """Make the calling thread's niceness at least `nice` (it is never raised back: that needs a
    privilege): the niceness it then has, or None where a thread's niceness is not its own (not Linux)
    or the kernel refused."""
    if not hasattr(os, "setpriority") or not os.path.isdir("/proc/self/task"):
        return None
    try:
        tid = threading.get_native_id()
        niceness = max(os.getpriority(os.PRIO_PROCESS, tid), nice)
        os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except OSError:
        return None
    return niceness
