"""`dream list ...`: universes, services, fixtures, shapes."""

from __future__ import annotations

import typer

from dream.cli import output
from dream.cli.common import JsonOpt, client
from dream.cli.fixture_spec import fixture_specs
from dream.spec import SERVICES

app = typer.Typer(help="List universes, services, fixtures or shapes.", no_args_is_help=True)


@app.command("universes")
def list_universes(as_json: bool = JsonOpt) -> None:
    """Universes of the running multiverse (and kept ones)."""
    with client() as api:
        found = api.universes()
    if as_json:
        output.dump_json(found)
        return
    for name, info in sorted(found.items()):
        keep = " (kept)" if info.get("keep") else ""
        output.console.print(
            f"{name}\t{info.get('state', 'running')}\t{info.get('node-count', 0)} nodes{keep}"
        )


@app.command("services")
def list_services() -> None:
    """The services a universe can run."""
    for name in SERVICES:
        output.console.print(name)


@app.command("fixtures")
def list_fixtures() -> None:
    """Fixtures `dream inject` can run."""
    for fixture in sorted(fixture_specs(), key=lambda f: f["cli_name"]):
        if not fixture["internal"]:
            output.console.print(f"{fixture['cli_name']}\t{fixture['description']}")


@app.command("shapes")
def list_shapes() -> None:
    """Universe shapes in universes/."""
    from dream.shapes import available_shapes

    for name in available_shapes():
        output.console.print(name)
