"""How the CLI prints: upstream's `[INFO]`/`[SUCCESS]` lines and light tables."""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

# rich is imported on the first print, not with the CLI: `dream new multiverse` execs the daemon without
# printing anything, and rich is a third of the CLI's start-up.


@cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def __getattr__(name: str) -> Any:
    """`output.console` (stdout) and `output.errors` (stderr), made on first use."""
    if name == "console":
        return _console(False)
    if name == "errors":
        return _console(True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    console: Console
    errors: Console


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def info(message: str) -> None:
    _console(False).print(f"[cyan]\\[INFO][/cyan] {escape(message)}", soft_wrap=True)


def success(message: str) -> None:
    _console(False).print(f"[green]\\[SUCCESS][/green] {escape(message)}", soft_wrap=True)


def warn(message: str) -> None:
    _console(True).print(f"[yellow]\\[WARN][/yellow] {escape(message)}", soft_wrap=True)


def error(message: str) -> None:
    # Messages quote user input and lists in [brackets]: never read them as rich markup.
    _console(True).print(f"[red]\\[ERROR][/red] {escape(message)}", soft_wrap=True)


def dump_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def port_rows(ports: dict[str, Any]) -> list[tuple[str, str]]:
    return [(protocol, str(ports[protocol])) for protocol in sorted(ports)]


STATE_COLORS = {
    "up": "green",
    "starting": "cyan",
    "restarting": "yellow",
    "down": "red",
    "stopping": "yellow",
}


def state_text(node: dict[str, Any]) -> str:
    """A node's state for a table: `up`, `restarting (was killed by signal 9 ...)`, `down: <why>`."""
    state = str(node.get("state") or ("up" if node.get("alive") else "down"))
    reason = str(node.get("reason") or "")
    color = STATE_COLORS.get(state, "white")
    text = state
    if reason:
        text = f"{state}: {reason}" if state == "down" else f"{state} ({reason})"
    return f"[{color}]{escape(text)}[/{color}]"


def node_rows(node: dict[str, Any]) -> list[tuple[str, str]]:
    """(protocol, port) rows; a node left down serves no port, so it shows none."""
    rows = port_rows(node["value"])
    served = [row for row in rows if row[0] != "copies"]
    if not served:
        rows = [*rows, ("-", "-")]
    return rows


def universe_table(nodes: list[dict[str, Any]]) -> Table:
    """`Nodes | <name>@<universe> | state | restarts | <protocol> | <port>`, like upstream's table with the
    node's state and the daemon's restart count added; the first columns are merged like upstream's."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SQUARE, show_header=True, show_lines=False)
    for header in ("", "node", "state", "restarts", "protocol", "port"):
        table.add_column(header)
    first = True
    for node in nodes:
        rows = node_rows(node)
        for i, (protocol, port) in enumerate(rows):
            table.add_row(
                "Nodes" if first else "",
                escape(node["name"]) if i == 0 else "",
                state_text(node) if i == 0 else "",
                str(node.get("restarts", 0)) if i == 0 else "",
                protocol,
                port,
                end_section=i == len(rows) - 1,
            )
            first = False
    table.columns[3].justify = "right"
    table.columns[5].justify = "right"
    return table


def node_table(node: dict[str, Any]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SQUARE, show_header=True)
    for header in ("node", "state", "restarts", "protocol", "port"):
        table.add_column(header)
    rows = node_rows(node)
    for i, (protocol, port) in enumerate(rows):
        table.add_row(
            escape(node["name"]) if i == 0 else "",
            state_text(node) if i == 0 else "",
            str(node.get("restarts", 0)) if i == 0 else "",
            protocol,
            port,
            end_section=True,
        )
    table.columns[2].justify = "right"
    table.columns[4].justify = "right"
    return table


def jobs_summary(jobs: list[dict[str, Any]]) -> None:
    """The builds a push started: job, repository, status, duration; the log tail of each failure."""
    from rich.table import Table

    table = Table("job", "repository", "status", "duration")
    for job in jobs:
        color = "green" if job["status"] == "success" else "red"
        table.add_row(
            job["job"], job["repository"], f"[{color}]{job['status']}[/{color}]", f"{job['duration']:.2f}s"
        )
    _console(False).print(table)
    for job in jobs:
        if job["status"] != "success":
            _console(True).print(
                f"[red]{job['repository']}[/red] ({job['job']}): {job.get('error', '')}",
                markup=True,
                soft_wrap=True,
            )
            if job.get("log_tail"):
                _console(True).print(job["log_tail"], markup=False, highlight=False, soft_wrap=True)
