"""Node processes are forked from a warmed zygote: the fork server (`dream.process.forkserver`) with the
node runtime preloaded.

The zygote imports the heavy modules once; each node is then a fork of it, so a node starts in
milliseconds instead of paying a cold interpreter and its imports.
"""

from __future__ import annotations

from multiprocessing.process import BaseProcess

from dream.node.entry import run
from dream.process import forkserver

PRELOAD = ["dream.node.preload"]


def warm() -> None:
    """Start the zygote now, so the first universe does not wait for it."""
    forkserver.start(PRELOAD)


def spawn(config_json: str, name: str) -> BaseProcess:
    """A new node process, running the node described by `config_json`."""
    return forkserver.spawn(PRELOAD, run, (config_json,), name)
