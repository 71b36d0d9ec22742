"""`dream logs NODE`: print a node's log, and with `--follow` keep printing new lines."""

from __future__ import annotations

import sys
import time

import typer

from dream.cli.common import client
from dream.settings import DEFAULT_UNIVERSE

# How often `--follow` asks the daemon for new lines.
FOLLOW_INTERVAL = 0.25


def logs(
    node: str = typer.Argument(..., help="Service or simple name, name-<index>, or node id"),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines"),
) -> None:
    """Print a node's log."""
    with client() as api:
        offset = 0
        while True:
            chunk = api.logs(universe, node, offset)
            sys.stdout.write(chunk["text"])
            sys.stdout.flush()
            offset = chunk["offset"]
            if not follow:
                return
            time.sleep(FOLLOW_INTERVAL)
