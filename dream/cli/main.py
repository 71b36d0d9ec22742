"""The `dream` command: the typer app assembled from one module per verb, and the one place errors become
a sentence and exit 1. The CLI drives the daemon through `dream.client` only."""

from __future__ import annotations

import sys

import typer

from dream.cli import (
    bench,
    ca,
    chaos,
    console,
    data,
    doctor,
    inject,
    inspect,
    jobs,
    kill,
    listing,
    logs,
    mcp,
    new,
    output,
    project,
    pubsub,
    run,
    snapshot,
    status,
    validate,
    watch,
)
from dream.cli.common import state
from dream.errors import DreamError

app = typer.Typer(
    name="dream",
    help="A whole simulated Taubyte cloud on one machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(new.app, name="new")
app.add_typer(inject.app, name="inject")
app.add_typer(kill.app, name="kill")
app.add_typer(status.app, name="status")
app.add_typer(listing.app, name="list")
app.add_typer(project.app, name="project")
app.add_typer(ca.app, name="ca")
app.add_typer(data.app, name="data")
app.add_typer(pubsub.app, name="pubsub")
app.add_typer(run.app, name="run")
app.add_typer(chaos.app, name="chaos")
app.add_typer(snapshot.app, name="snapshot")
app.command("start", help="Alias of `dream new multiverse` (upstream's newer spelling).")(new.multiverse)
app.command("doctor")(doctor.doctor)
app.command("logs")(logs.logs)
app.command("inspect")(inspect.inspect)
app.command("jobs")(jobs.jobs)
app.command("console")(console.console)
app.command("mcp")(mcp.mcp)
app.command("validate")(validate.validate)
app.command("watch")(watch.watch)
app.command("bench")(bench.bench)


@app.callback()
def root(
    port: int = typer.Option(None, "--port", envvar="DREAM_PORT", help="Daemon port (default 1421)"),
) -> None:
    state["port"] = port


def main() -> None:
    try:
        app()
    except DreamError as exc:
        output.error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
