"""`dream logs NODE`: print a node's log, and with `--follow` keep printing new lines."""

from __future__ import annotations

import typer

from dream.cli.common import client, print_from_offset
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
        # A node's log has no end: --follow runs until Ctrl-C.
        never = lambda answer: False  # noqa: E731
        print_from_offset(
            lambda offset: api.logs(universe, node, offset), follow=follow, every=FOLLOW_INTERVAL, until=never
        )
