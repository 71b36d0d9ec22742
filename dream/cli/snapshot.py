"""`dream snapshot`: save a universe's whole state in one file, and start universes from it."""

from __future__ import annotations

import time

import typer

from dream.cli import output
from dream.cli.common import JsonOpt, client
from dream.settings import DEFAULT_UNIVERSE

app = typer.Typer(
    help="Save a universe's state to a file; start universes from it (forks).", no_args_is_help=True
)

NameArg = typer.Argument(..., help="Snapshot name (lower-case letters, digits, - and _)")


@app.command("save")
def save(
    name: str = NameArg,
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u", help="Universe to snapshot"),
    as_json: bool = JsonOpt,
) -> None:
    """Snapshot a running universe: every node's store, the git host's repositories, hoarder's blobs."""
    answer = client().snapshot_save(universe, name)
    if as_json:
        output.dump_json(answer)
        return
    output.success(
        f"snapshot {answer['name']} of universe {answer['universe']}: {answer['bytes'] / 1e6:.1f} MB in "
        f"{answer['seconds']:.2f}s ({answer['processes_paused']} processes paused {answer['paused_seconds'] * 1000:.0f} ms)"
    )
    output.info(answer["path"])


@app.command("load")
def load(
    name: str = NameArg,
    as_universe: str = typer.Option(..., "--as", help="Name of the universe to start from it"),
    keep: bool = typer.Option(False, "--keep", help="Keep the new universe on disk after it is killed"),
    only: list[str] = typer.Option(
        [], "--only", help="Start just this service or simple of it (repeat: --only substrate --only tns)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Start a universe from a snapshot: it serves the same projects, with no build."""
    answer = client().snapshot_load(name, as_universe, keep=keep, only=only or None)
    if as_json:
        output.dump_json(answer)
        return
    output.success(
        f"universe {answer['universe']} started from snapshot {name} (of {answer['from']}) in {answer['seconds']:.2f}s"
    )


@app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """The snapshots of this dream home."""
    found = client().snapshots()
    if as_json:
        output.dump_json(found)
        return
    if not found:
        output.info("no snapshots yet: `dream snapshot save NAME -u UNIVERSE`")
        return
    from rich.table import Table

    table = Table("name", "universe", "taken", "size")
    for snap in found:
        taken = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snap["created"])) if "created" in snap else "?"
        )
        table.add_row(
            snap["name"],
            str(snap.get("universe", snap.get("error", "?"))),
            taken,
            f"{snap['bytes'] / 1e6:.1f} MB",
        )
    output.console.print(table)


@app.command("rm")
def rm(name: str = NameArg) -> None:
    """Remove a snapshot."""
    client().snapshot_remove(name)
    output.success(f"snapshot {name} removed")
