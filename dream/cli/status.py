"""`dream status ...`: universes, their nodes' states and ports, one service, a universe's id."""

from __future__ import annotations

from collections.abc import Callable

import typer

from dream.cli import output
from dream.cli.common import JsonOpt, UniverseArg, client
from dream.spec import SERVICES

app = typer.Typer(invoke_without_command=True)


@app.callback()
def status_all(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Show universes and their nodes with each node's state; alone, every universe.

    Columns: node, state, restarts (how many times the daemon brought the node back), protocol, port.
    A state is `up`, `starting`, `restarting` (the node died on its own and is being brought back; how
    it died follows) or `down` (left down, and why, e.g. `crashed 6 times in 30s`): a node left down
    serves no port, so none is shown. `--json` has the same per node: state, reason, restarts,
    last_exit, pid (null unless running), value (the ports it serves) and ports (the ports it has)."""
    if ctx.invoked_subcommand is not None:
        return
    with client() as api:
        graphs = {name: api.graph(name) for name in sorted(api.status())}
    if as_json:
        output.dump_json(graphs)
        return
    if not graphs:
        output.console.print("no universe is running: start one with `dream new universe`")
    for name, graph in graphs.items():
        output.console.print(f"[bold]{output.escape(name)}[/bold]")
        output.console.print(output.universe_table(graph["nodes"]))


@app.command("universe")
def status_universe(name: str = UniverseArg, as_json: bool = JsonOpt) -> None:
    """Every node of a universe with its state, restarts, protocols and ports (see `dream status`)."""
    with client() as api:
        graph = api.graph(name)
    if as_json:
        output.dump_json(graph)
        return
    output.console.print(output.universe_table(graph["nodes"]))


app.command("u", hidden=True)(status_universe)


@app.command("id")
def status_id(name: str = UniverseArg, as_json: bool = JsonOpt) -> None:
    """The universe's id."""
    with client() as api:
        universe_id = api.universe_id(name)
    if as_json:
        output.dump_json({"id": universe_id})
    else:
        output.console.print(f"Universe id: {universe_id}")


def _status_service(service: str) -> Callable[..., None]:
    def command(universe: str = UniverseArg, as_json: bool = JsonOpt) -> None:
        with client() as api:
            node = api.node(universe, service)
        if as_json:
            output.dump_json(node)
            return
        if "http" in node["value"]:  # not for a node left down: nothing serves there
            output.console.print(f"@ http://127.0.0.1:{node['value']['http']}")
        if "https" in node["value"]:
            output.console.print(f"@ https://<fqdn>.localhost:{node['value']['https']}")
        output.console.print(output.node_table(node))

    command.__doc__ = f"The {service} node's state and ports."
    return command


for _service in SERVICES:
    app.command(_service)(_status_service(_service))
