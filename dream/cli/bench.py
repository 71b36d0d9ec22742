"""`dream bench URL|FUNCTION`: a bounded load run against a URL or a deployed function, no wrk needed."""

from __future__ import annotations

from typing import Any

import typer

from dream.cli import output
from dream.cli.common import JsonOpt, client
from dream.cli.load import Target, check_run, run_load
from dream.errors import DreamError
from dream.settings import DEFAULT_UNIVERSE


def _seconds(text: str) -> float:
    from dream.tcc.units import parse_duration

    try:
        return parse_duration(text) / 1e9
    except DreamError as exc:
        raise DreamError(f"--duration: {exc}") from None


def function_target(
    name: str, *, universe: str, via: str, method: str | None, headers: list[tuple[str, str]], body: bytes
) -> tuple[Target, str]:
    """The request that reaches a deployed function: `PROJECT/FUNCTION`, or a function name found in one
    project of the universe."""
    daemon = client()
    project, _, function = name.rpartition("/")
    projects = [project] if project else [p["name"] for p in daemon.projects(universe)]
    found: list[dict[str, Any]] = []
    for each in projects:
        found += [
            dict(f, project=each)
            for f in daemon.project(universe, each)["functions"]
            if f["name"] == function
        ]
    if not found:
        where = f"project {project}" if project else f"any project of universe {universe}"
        raise DreamError(
            f"no http function `{function}` in {where}: pass PROJECT/FUNCTION as `dream project show` lists them, or a URL"
        )
    if len({f["project"] for f in found}) > 1:
        names = ", ".join(sorted(f"{f['project']}/{function}" for f in found))
        raise DreamError(f"`{function}` is in several projects ({names}): pass PROJECT/FUNCTION")
    chosen = found[0]
    port = daemon.port(universe, via)
    target = Target(
        "127.0.0.1",
        port,
        (method or chosen["method"] or "GET").upper(),
        chosen["path"],
        [("Host", chosen["fqdn"]), *headers],
        body,
    )
    return (
        target,
        f"{chosen['project']}/{function} ({target.method} {chosen['fqdn']}{chosen['path']} via {via})",
    )


def bench(
    target: str = typer.Argument(
        ..., help="http:// URL, or a deployed function: PROJECT/FUNCTION (or FUNCTION)"
    ),
    connections: int = typer.Option(10, "--connections", "-c", help="Connections kept open at once"),
    duration: str = typer.Option("10s", "--duration", "-d", help="How long to load, e.g. 10s"),
    method: str = typer.Option(
        None, "--method", "-m", help="HTTP method (default: the function's, else GET)"
    ),
    header: list[str] = typer.Option(
        None, "--header", "-H", help="Request header `Name: value` (repeatable)"
    ),
    body: str = typer.Option(None, "--body", help="Request body: text, or @file"),
    via: str = typer.Option(
        "substrate", "--via", help="For a function: the node to send to (substrate, gateway)"
    ),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u", help="Universe of the function"),
    as_json: bool = JsonOpt,
) -> None:
    """Load a URL or a deployed function for a while; print req/s and latency percentiles."""
    from dream.cli.run import parse_header, read_body

    seconds = _seconds(duration)
    check_run(connections, seconds)
    headers = [parse_header(h) for h in header or []]
    data = read_body(body)
    if "://" in target:
        load = Target.from_url(target, method=method or "GET", headers=headers, body=data)
        label = f"{load.method} {target}"
    else:
        load, label = function_target(
            target, universe=universe, via=via, method=method, headers=headers, body=data
        )
    if not as_json:
        output.info(f"loading {label} with {connections} connection(s) for {seconds:g}s")
    result = run_load(load, connections=connections, duration=seconds)
    summary = result.summary()
    if as_json:
        output.dump_json({"target": label, **summary})
        if not summary["requests"]:
            raise DreamError(f"no request to {label} was answered in {seconds:g}s")
        return
    from rich.table import Table

    table = Table()
    for column in ("requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"):
        table.add_column(column, justify="right")
    lat = summary["latency_ms"]
    table.add_row(
        str(summary["requests"]),
        f"{summary['requests_per_second']:,.1f}",
        *(f"{lat[k]:.2f}" for k in ("p50", "p90", "p99", "max", "mean")),
    )
    output.console.print(table)
    statuses = ", ".join(f"{status}: {count}" for status, count in summary["statuses"].items()) or "none"
    output.console.print(f"statuses: {statuses}", markup=False)
    if summary["errors"]:
        errors = ", ".join(f"{why}: {count}" for why, count in summary["errors"].items())
        output.warn(f"connection errors: {errors}")
    if not summary["requests"]:
        raise DreamError(f"no request to {label} was answered in {seconds:g}s")
