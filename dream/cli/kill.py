"""`dream kill ...`: stop a universe, a simple, services, or the whole multiverse."""

from __future__ import annotations

import time
from collections.abc import Callable

import typer

from dream.cli import output
from dream.cli.common import UniverseArg, client, split
from dream.errors import DreamError
from dream.spec import SERVICES

app = typer.Typer(help="Stop universes, simples, services or the whole multiverse.", no_args_is_help=True)

# How long `dream kill multiverse` waits for the daemon process to be gone.
STOP_TIMEOUT = 60.0


@app.command("universe")
def kill_universe(name: str = UniverseArg) -> None:
    """Stop a universe and every node in it."""
    with client() as api:
        api.kill_universe(name)
    output.success(f"Universe {name.lower()} stopped")


@app.command("simple")
def kill_simple(name: str = typer.Argument("client"), universe: str = UniverseArg) -> None:
    """Stop a simple."""
    with client() as api:
        api.kill_simple(universe, name)
    output.success(f"Simple {name}@{universe.lower()} stopped")


@app.command("services")
def kill_services(
    names: str = typer.Argument(..., help="Services (comma list)"), universe: str = UniverseArg
) -> None:
    """Stop the first instance of each named service."""
    with client() as api:
        for name in split([names]):
            result = api.kill_service(universe, name)
            output.success(f"{name}@{universe.lower()} (pid {result['killed']['pid']}) stopped")


@app.command("multiverse")
def kill_multiverse() -> None:
    """Stop the daemon and every universe."""
    from dream.process.identity import process_start

    with client() as api:
        pid = api.shutdown()
    # Done only when the daemon process is gone: a `dream new multiverse` right after must not find it.
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid and process_start(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid and process_start(pid):
        raise DreamError(
            f"the daemon (pid {pid}) is still stopping after {STOP_TIMEOUT:.0f} s; see its log in ~/.cache/dream"
        )
    output.success("Multiverse stopped")


def _kill_service(service: str) -> Callable[..., None]:
    def command(universe: str = UniverseArg) -> None:
        with client() as api:
            result = api.kill_service(universe, service)
        output.success(f"{service}@{universe.lower()} (pid {result['killed']['pid']}) stopped")

    command.__doc__ = f"Stop the first {service} node."
    return command


for _service in SERVICES:
    app.command(_service)(_kill_service(_service))
