"""How the CLI prints: upstream's `[INFO]`/`[SUCCESS]` lines and light tables."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def info(message: str) -> None:
    console.print(f"[cyan]\\[INFO][/cyan] {escape(message)}", soft_wrap=True)


def success(message: str) -> None:
    console.print(f"[green]\\[SUCCESS][/green] {escape(message)}", soft_wrap=True)


def warn(message: str) -> None:
    errors.print(f"[yellow]\\[WARN][/yellow] {escape(message)}", soft_wrap=True)


def error(message: str) -> None:
    # Messages quote user input and lists in [brackets]: never read them as rich markup.
    errors.print(f"[red]\\[ERROR][/red] {escape(message)}", soft_wrap=True)


def dump_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def port_rows(ports: dict[str, Any]) -> list[tuple[str, str]]:
    return [(protocol, str(ports[protocol])) for protocol in sorted(ports)]


def universe_table(nodes: list[dict[str, Any]]) -> Table:
    """`Nodes | <name>@<universe> | <protocol> | <port>`, first two columns merged like upstream's."""
    table = Table(box=box.SQUARE, show_header=False, show_lines=False)
    for _ in range(4):
        table.add_column()
    first = True
    for node in nodes:
        rows = port_rows(node["value"])
        for i, (protocol, port) in enumerate(rows):
            table.add_row(
                "Nodes" if first else "",
                node["name"] if i == 0 else "",
                protocol,
                port,
                end_section=i == len(rows) - 1,
            )
            first = False
    table.columns[3].justify = "right"
    return table


def node_table(node: dict[str, Any]) -> Table:
    table = Table(box=box.SQUARE, show_header=False)
    for _ in range(3):
        table.add_column()
    rows = port_rows(node["value"])
    for i, (protocol, port) in enumerate(rows):
        table.add_row(node["name"] if i == 0 else "", protocol, port, end_section=True)
    table.columns[2].justify = "right"
    return table


def jobs_summary(jobs: list[dict[str, Any]]) -> None:
    """The builds a push started: job, repository, status, duration; the log tail of each failure."""
    table = Table("job", "repository", "status", "duration")
    for job in jobs:
        color = "green" if job["status"] == "success" else "red"
        table.add_row(
            job["job"], job["repository"], f"[{color}]{job['status']}[/{color}]", f"{job['duration']:.2f}s"
        )
    console.print(table)
    for job in jobs:
        if job["status"] != "success":
            errors.print(
                f"[red]{job['repository']}[/red] ({job['job']}): {job.get('error', '')}",
                markup=True,
                soft_wrap=True,
            )
            if job.get("log_tail"):
                errors.print(job["log_tail"], markup=False, highlight=False, soft_wrap=True)
