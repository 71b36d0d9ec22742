"""Keeping libraries dream never uses out of its processes, even when something else installed them."""

from __future__ import annotations

import sys

# httpcore imports trio whenever it is installed (the test extras bring it, through selenium), only to
# support trio's event loop, which dream never runs: ~100 ms in every process that makes an HTTP client
# (the CLI, the daemon, the zygote). A None entry makes that optional import fail as if trio were absent.
SKIPPED = ("trio",)


def skip() -> None:
    """Call first thing in a process's entry point (never in a library: the caller's process may use them)."""
    for name in SKIPPED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
