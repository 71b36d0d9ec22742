"""`dream chaos`: break a node on purpose, for a while, to see a project survive it."""

from __future__ import annotations

from typing import Any

import typer

from dream.cli import output
from dream.cli.common import JsonOpt, client
from dream.errors import DreamError
from dream.settings import DEFAULT_UNIVERSE

app = typer.Typer(
    help="Kill, pause, slow down or fail a node of a universe, for a while.", no_args_is_help=True
)

NodeArg = typer.Argument(..., help="Node: a service or simple name (its first copy), name-<index> or peer id")
UniverseOpt = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u", help="Universe")
PortOpt = typer.Option(
    "auto", "--port", help="Port to act on: http, p2p, all, or auto (http when the node has one, else p2p)"
)


def seconds(text: str, flag: str) -> float:
    """A duration flag (`5s`, `200ms`, `1m`) in seconds."""
    from dream.tcc.units import parse_duration

    try:
        return parse_duration(text) / 1e9
    except DreamError as exc:
        raise DreamError(f"{flag}: {exc}") from None


def _done(answer: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        output.dump_json(answer)
    else:
        output.success(line)


@app.command("kill")
def kill(node: str = NodeArg, universe: str = UniverseOpt, as_json: bool = JsonOpt) -> None:
    """Kill a node's process (SIGKILL, like a crash); the daemon restarts it as it does any crash."""
    answer = client().chaos_kill(universe, node)
    _done(answer, as_json, f"killed {answer['node']} (pid {answer['pid']}); the daemon restarts it")


@app.command("pause")
def pause(
    node: str = NodeArg,
    for_: str = typer.Option("5s", "--for", help="How long, e.g. 5s"),
    universe: str = UniverseOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Freeze a node (SIGSTOP) and resume it (SIGCONT) after --for, even if the daemon stops meanwhile."""
    answer = client().chaos_pause(universe, node, seconds(for_, "--for"))
    _done(answer, as_json, f"paused {answer['node']} (pid {answer['pid']}) for {answer['remaining']:g}s")


@app.command("resume")
def resume(node: str = NodeArg, universe: str = UniverseOpt, as_json: bool = JsonOpt) -> None:
    """Resume a paused node now."""
    answer = client().chaos_resume(universe, node)
    _done(
        answer,
        as_json,
        f"resumed {answer['node']}" if answer["resumed"] else f"{answer['node']} was not paused",
    )


@app.command("delay")
def delay(
    node: str = NodeArg,
    latency: str = typer.Argument(..., help="Latency added to each request, e.g. 200ms"),
    for_: str = typer.Option("30s", "--for", help="How long, e.g. 30s"),
    port: str = PortOpt,
    universe: str = UniverseOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add latency to every request a node's port serves, for a while."""
    answer = client().chaos_fault(
        universe, node, seconds=seconds(for_, "--for"), port=port, delay=seconds(latency, "latency")
    )
    port = answer["faults"][0]["port"] if answer["faults"] and port == "auto" else port
    _done(answer, as_json, f"{answer['node']}: {latency} added to each request on {port} for {for_}")


@app.command("fail")
def fail(
    node: str = NodeArg,
    rate: float = typer.Option(..., "--rate", help="Share of requests failed: 0.1 is one in ten, 1 is all"),
    for_: str = typer.Option("30s", "--for", help="How long, e.g. 30s"),
    status: int = typer.Option(503, "--status", help="Status of a failed answer (5xx)"),
    port: str = PortOpt,
    universe: str = UniverseOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Answer a share of a node's requests with a 5xx instead of serving them, for a while."""
    answer = client().chaos_fault(
        universe, node, seconds=seconds(for_, "--for"), port=port, rate=rate, status=status
    )
    port = answer["faults"][0]["port"] if answer["faults"] and port == "auto" else port
    _done(answer, as_json, f"{answer['node']}: {rate:g} of requests on {port} answered {status} for {for_}")


@app.command("clear")
def clear(node: str = NodeArg, universe: str = UniverseOpt, as_json: bool = JsonOpt) -> None:
    """End a node's pause and faults now."""
    answer = client().chaos_clear(universe, node)
    _done(answer, as_json, f"{answer['node']}: no pause or fault left")


@app.command("list")
def list_(universe: str = UniverseOpt, as_json: bool = JsonOpt) -> None:
    """The pauses and faults in effect."""
    answer = client().chaos(universe)
    if as_json:
        output.dump_json(answer)
        return
    if not answer["paused"] and not answer["faults"]:
        output.info(f"no chaos in universe {universe}")
    for paused in answer["paused"]:
        output.console.print(f"{paused['node']}: paused, {paused['remaining']:g}s left", markup=False)
    for entry in answer["faults"]:
        for fault in entry["faults"]:
            output.console.print(
                f"{entry['node']}: {fault['port']} port, delay {fault['delay']:g}s, fail rate {fault['rate']:g}"
                f" ({fault['status']}), {entry['remaining']:g}s left",
                markup=False,
            )
