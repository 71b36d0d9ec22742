"""`dream inject ...`: one more service node or simple, or a fixture run by the daemon.

The fixture commands are not written here: they are built from the daemon's fixture spec (see
`fixture_spec`) the first time the `inject` group is asked for a command it does not know.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from dream.cli import output
from dream.cli.common import UniverseArg, client, split
from dream.cli.fixture_spec import fixture_specs, known_fixture_specs
from dream.errors import DreamError
from dream.settings import DEFAULT_UNIVERSE
from dream.spec import CLIENTS, SERVICES, FixtureSpec

if TYPE_CHECKING:
    # typer carries its own click: these are the types its groups and commands use.
    from typer._click import Command, Context

NO_SPEC_EPILOG = (
    "Fixtures (push-all, build-local-project, ...) are listed by the daemon: start it with "
    "`dream new multiverse` to see them here."
)


class InjectGroup(TyperGroup):
    """The static `inject` commands, then the daemon's fixtures."""

    _fixtures: dict[str, Command] | None = None

    def fixtures(self, *, required: bool) -> dict[str, Command]:
        if self._fixtures is None:
            specs = fixture_specs() if required else known_fixture_specs()
            if specs is None:
                self.epilog = NO_SPEC_EPILOG
                return {}
            self._fixtures = fixture_commands(specs)
        return self._fixtures

    def list_commands(self, ctx: Context) -> list[str]:
        return super().list_commands(ctx) + list(self.fixtures(required=False))

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        return self.fixtures(required=True).get(cmd_name)


app = typer.Typer(
    cls=InjectGroup, help="Add services or simples to a universe, or run a fixture.", no_args_is_help=True
)


@app.command("services")
def inject_services(
    names: str = typer.Argument(..., help="Services (comma list)"),
    universe: str = UniverseArg,
) -> None:
    """Start one more instance of each named service."""
    with client() as api:
        for name in split([names]):
            _print_started(api.new_service(universe, name, {}), universe)


@app.command("simple")
def inject_simple(
    name: str = typer.Argument("client", help="Simple name"),
    universe: str = UniverseArg,
    enable: list[str] = typer.Option(None, "--enable", help="Only these clients (comma list)"),
    disable: list[str] = typer.Option(None, "--disable", help="Every client but these (comma list)"),
    empty: bool = typer.Option(False, "--empty", help="No clients"),
) -> None:
    """Start a simple (a lightweight node carrying clients)."""
    from dream.shapes import SimpleShape, check_clients

    enabled, disabled = split(enable), split(disable)
    if empty and (enabled or disabled):
        raise DreamError("enable and disable are useless when creating empty")
    if enabled and disabled:
        raise DreamError("can't set enable and disable flags")
    check_clients(enabled + disabled)
    clients = [] if empty else enabled or [c for c in CLIENTS if c not in disabled]
    with client() as api:
        _print_started(api.new_simple(universe, name, SimpleShape(clients=clients).to_api()), universe)


def _print_started(result: dict[str, Any], universe: str) -> None:
    for node in result["nodes"]:
        ports = ", ".join(f"{k} {v}" for k, v in sorted(node["ports"].items()))
        output.success(f"{node['name']}@{universe.lower()} started (pid {node['pid']}; {ports})")


def _inject_service(service: str) -> Callable[..., None]:
    def command(
        universe: str = UniverseArg,
        http: int = typer.Option(0, "--http", help="HTTP port (default: chosen by the kernel)"),
    ) -> None:
        others = {"http": http} if http else {}
        with client() as api:
            _print_started(api.new_service(universe, service, {"Others": others}), universe)

    command.__doc__ = f"Start one more {service} node."
    return command


for _service in SERVICES:
    app.command(_service)(_inject_service(_service))


def fixture_commands(specs: list[FixtureSpec]) -> dict[str, Command]:
    """One click command per fixture a user may run (internal ones are the daemon's own)."""
    fixtures = typer.Typer()
    for spec in specs:
        if not spec["internal"]:
            fixtures.command(spec["cli_name"])(_fixture_command(spec))
    if not fixtures.registered_commands:
        return {}
    return dict(typer.main.get_group(fixtures).commands)


def _fixture_command(fixture: FixtureSpec) -> Callable[..., None]:
    """One `dream inject <fixture>` command; variables become flags, sent positionally like upstream."""
    cli_name = fixture["cli_name"]

    def command(universe: str = DEFAULT_UNIVERSE, **values: str) -> None:
        positional = [values.get(_param(v["name"]), "") or "" for v in fixture["variables"]]
        with (
            client() as api,
            output.console.status(f"{cli_name}: working in universe {universe.lower()}..."),
        ):
            result = api.fixture(universe, fixture["name"], positional)
        answer = result.get("result") or {}
        if "jobs" in answer:
            output.jobs_summary(answer["jobs"])
            if answer.get("failed"):
                raise DreamError(f"{answer['failed']} of {len(answer['jobs'])} build(s) failed")
            output.success(f"{cli_name}: {len(answer['jobs'])} build(s) succeeded")
            return
        output.success(f"fixture {cli_name} done in universe {universe.lower()}")
        if answer:
            output.dump_json(answer)

    params = [
        inspect.Parameter(
            "universe", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=UniverseArg, annotation=str
        )
    ]
    for variable in fixture["variables"]:
        alias = variable["alias"]
        flags = [f"--{variable['name']}", f"-{alias}" if len(alias) == 1 else f"--{alias}"]
        option = typer.Option(... if variable["required"] else "", *flags, help=variable["description"])
        params.append(
            inspect.Parameter(
                _param(variable["name"]), inspect.Parameter.KEYWORD_ONLY, default=option, annotation=str
            )
        )
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]  # typer reads it
    command.__annotations__ = {p.name: str for p in params} | {"return": None}
    command.__doc__ = fixture["description"]
    return command


def _param(name: str) -> str:
    return name.replace("-", "_")
