"""The `dream` command: typer app assembly and the one place errors become a sentence and exit 1."""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dream.cli import output
from dream.cli.common import (
    BindOpt,
    DisableOpt,
    EmptyOpt,
    EnableOpt,
    FixturesOpt,
    JsonOpt,
    KeepOpt,
    ShapeOpt,
    SimplesOpt,
    UniverseArg,
    build_shape,
    client,
    split,
    state,
)
from dream.cli.multiverse import start_multiverse
from dream.daemon.actions import FIXTURES, Fixture
from dream.errors import DreamError
from dream.settings import DEFAULT_BRANCH, DEFAULT_UNIVERSE
from dream.shapes import SimpleShape, available_shapes, check_clients
from dream.spec import CLIENTS, SERVICES

app = typer.Typer(
    name="dream",
    help="A whole simulated Taubyte cloud on one machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
new_app = typer.Typer(help="Create a multiverse or a universe.", no_args_is_help=True)
inject_app = typer.Typer(
    help="Add services or simples to a universe, or run a fixture.", no_args_is_help=True
)
kill_app = typer.Typer(
    help="Stop universes, simples, services or the whole multiverse.", no_args_is_help=True
)
status_app = typer.Typer(invoke_without_command=True)
list_app = typer.Typer(help="List universes, services, fixtures or shapes.", no_args_is_help=True)
app.add_typer(new_app, name="new")
app.add_typer(inject_app, name="inject")
app.add_typer(kill_app, name="kill")
app.add_typer(status_app, name="status")
project_app = typer.Typer(
    help="Projects of a universe: list them, show one with its functions' URLs.", no_args_is_help=True
)
app.add_typer(list_app, name="list")
app.add_typer(project_app, name="project")


@app.callback()
def root(
    port: int = typer.Option(None, "--port", envvar="DREAM_PORT", help="Daemon port (default 1421)"),
) -> None:
    state["port"] = port


# -- new / start -----------------------------------------------------------------------------------------


def _multiverse_command(
    daemon: bool = typer.Option(False, "--daemon", help="Run in the background; return once started"),
    keep: bool = KeepOpt,
    empty: bool = EmptyOpt,
    enable: list[str] = EnableOpt,
    disable: list[str] = DisableOpt,
    bind: list[str] = BindOpt,
    fixtures: list[str] = FixturesOpt,
    simples: list[str] = SimplesOpt,
    universes: list[str] = typer.Option(
        None, "--universes", "-u", help="Universes to start (default blackhole)"
    ),
    shape: str = ShapeOpt,
    branch: str = typer.Option(DEFAULT_BRANCH, "--branch", "-b", help="Default branch services build"),
) -> None:
    """Start the daemon and a universe (`blackhole`); Ctrl-C stops everything."""
    start_multiverse(
        shape=build_shape(
            shape=shape, empty=empty, enable=enable, disable=disable, bind=bind, simples=simples
        ),
        universes=universes,
        keep=keep,
        fixtures=fixtures,
        branch=branch,
        detach=daemon,
    )


new_app.command("multiverse")(_multiverse_command)
app.command("start", help="Alias of `dream new multiverse` (upstream's newer spelling).")(_multiverse_command)


@new_app.command("universe")
def new_universe(
    name: str = UniverseArg,
    keep: bool = KeepOpt,
    empty: bool = EmptyOpt,
    enable: list[str] = EnableOpt,
    disable: list[str] = DisableOpt,
    bind: list[str] = BindOpt,
    fixtures: list[str] = FixturesOpt,
    simples: list[str] = SimplesOpt,
    shape: str = ShapeOpt,
) -> None:
    """Create and start a universe in the running multiverse."""
    config = build_shape(shape=shape, empty=empty, enable=enable, disable=disable, bind=bind, simples=simples)
    with client() as api:
        api.new_universe(name, config.to_api(), keep=keep)
        for fixture in split(fixtures):
            api.fixture(name, fixture, [])
    output.success(f"Universe {name.lower()} started!")


@new_app.command("project")
def new_project(
    name: str = typer.Argument(..., help="Project name (lower-case letters, digits, - and _)"),
    template: str = typer.Option("ping_pong", "--template", help="Template from fixtures/templates"),
    lang: str = typer.Option(
        "go", "--lang", help="Language of the template's function (go, c, zig, rust, assemblyscript, wat)"
    ),
    path: Path = typer.Option(None, "--path", help="Where the working copies go (default ./NAME)"),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"),
) -> None:
    """Create a project: config and code repositories on the universe's git host, registered with auth."""
    target = (path or Path.cwd() / name).expanduser().resolve()
    with client() as api:
        project = api.new_project(universe, name, str(target), template=template, lang=lang)
    output.success(f"Project {project['name']} created ({project['id']})")
    output.console.print(f"  fqdn:   {project['fqdn']}")
    for role, repo in project["repositories"].items():
        output.console.print(f"  {role:6}  {target / role}  ←→  {repo['clone_url']} (id {repo['id']})")
    output.console.print("\nNext:")
    output.console.print("  dream inject push-all                     # build config and code (two jobs)")
    output.console.print(
        f"  dream project show {project['name']}{' --universe ' + universe if universe != DEFAULT_UNIVERSE else ''}   # the function URLs"
    )
    output.console.print(f"  cd {target / 'code'} && git commit -am ... && git push   # a push builds too")


@new_app.command("website")
def new_website(
    name: str = typer.Argument(
        ..., help="Website name (served under /NAME on the project's generated domain)"
    ),
    project: str = typer.Option(..., "--project", "-p", help="The project it belongs to"),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"),
) -> None:
    """Add a static website to a project: its own repository, a working copy, and its config entry."""
    with client() as api:
        site = api.new_website(universe, project, name)
    output.success(f"Website {site['website']} added to {project}: {site['path']}")
    output.console.print(f"  repository {site['repository']['full_name']} (id {site['repository']['id']})")
    output.console.print("  dream inject push-all    # builds the config and the website")


@new_app.command("library")
def new_library(
    name: str = typer.Argument(..., help="Library name (lower-case letters, digits, - and _)"),
    project: str = typer.Option(..., "--project", "-p", help="The project it belongs to"),
    lang: str = typer.Option(
        "go", "--lang", help="Language of the library's code (go, c, zig, rust, assemblyscript, wat)"
    ),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"),
) -> None:
    """Add a library to a project: its own repository and working copy, its config entry, and a function
    whose code is the library (GET /NAME/ping)."""
    with client() as api:
        library = api.new_library(universe, project, name, lang=lang)
    output.success(f"Library {library['library']} added to {project}: {library['path']}")
    output.console.print(
        f"  repository {library['repository']['full_name']} (id {library['repository']['id']})"
    )
    function = library["function"]
    output.console.print(
        f"  function {function['name']} (source: libraries/{library['library']}) answers GET {function['path']}"
    )
    output.console.print("  dream inject push-all    # builds the config, the code and the library")


@project_app.command("list")
def project_list(
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"), as_json: bool = JsonOpt
) -> None:
    """Projects registered in a universe."""
    with client() as api:
        found = api.projects(universe)
    if as_json:
        output.dump_json(found)
        return
    table = Table("name", "id", "config repo", "code repo")
    for project in found:
        table.add_row(project["name"], project["id"], str(project["config"]), str(project["code"]))
    output.console.print(table)


@project_app.command("show")
def project_show(
    name: str = typer.Argument(..., help="Project name or id"),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"),
    as_json: bool = JsonOpt,
) -> None:
    """A project's repositories and functions, each with the curl line that calls it; for a working copy
    whose remote names an old port of the git host (a kept universe that came back on other ports), the
    `git remote set-url` command that fixes it."""
    with client() as api:
        project = api.project(universe, name)
    if as_json:
        output.dump_json(project)
        return
    output.console.print(f"[bold]{project['name']}[/bold] ({project['id']})")
    for role, repo in project["repositories"].items():
        output.console.print(
            f"  {role:6}  {repo['full_name']} (id {repo['id']})  {repo['clone_url']}", markup=False
        )
    for stale in project.get("stale_remotes") or []:
        # A kept universe whose git host came back on another port: `git push` would reach nothing.
        output.console.print(
            f"  the working copy {stale['path']} pushes to {stale['remote']}, which is not its "
            f"repository's URL any more; fix it with:\n    {stale['fix']}",
            markup=False,
            soft_wrap=True,
        )
    if not project["published"]:
        output.console.print("  not built yet: run `dream inject push-all`")
        return
    for function in project["functions"]:
        output.console.print(
            f"  {function['name']}: {function['method']} {function['fqdn']}{function['path']}"
        )
        if function.get("curl"):
            output.console.print(f"    {function['curl']}", soft_wrap=True)


# -- inject ----------------------------------------------------------------------------------------------


@inject_app.command("services")
def inject_services(
    names: str = typer.Argument(..., help="Services (comma list)"),
    universe: str = UniverseArg,
) -> None:
    """Start one more instance of each named service."""
    with client() as api:
        for name in split([names]):
            _print_started(api.new_service(universe, name, {}), universe)


@inject_app.command("simple")
def inject_simple(
    name: str = typer.Argument("client", help="Simple name"),
    universe: str = UniverseArg,
    enable: list[str] = typer.Option(None, "--enable", help="Only these clients (comma list)"),
    disable: list[str] = typer.Option(None, "--disable", help="Every client but these (comma list)"),
    empty: bool = typer.Option(False, "--empty", help="No clients"),
) -> None:
    """Start a simple (a lightweight node carrying clients)."""
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


def _inject_service(service: str) -> Any:
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
    inject_app.command(_service)(_inject_service(_service))


def _fixture_command(fixture: Fixture) -> Any:
    """One `dream inject <fixture>` command; variables become flags, sent positionally like upstream."""

    def command(universe: str = DEFAULT_UNIVERSE, **values: str) -> None:
        positional = [values.get(_param(v.name), "") or "" for v in fixture.variables]
        with (
            client() as api,
            output.console.status(f"{fixture.cli_name}: working in universe {universe.lower()}..."),
        ):
            result = api.fixture(universe, fixture.name, positional)
        answer = result.get("result") or {}
        if "jobs" in answer:
            output.jobs_summary(answer["jobs"])
            if answer.get("failed"):
                raise DreamError(f"{answer['failed']} of {len(answer['jobs'])} build(s) failed")
            output.success(f"{fixture.cli_name}: {len(answer['jobs'])} build(s) succeeded")
            return
        output.success(f"fixture {fixture.cli_name} done in universe {universe.lower()}")
        if answer:
            output.dump_json(answer)

    params = [
        inspect.Parameter(
            "universe", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=UniverseArg, annotation=str
        )
    ]
    for variable in fixture.variables:
        flags = [
            f"--{variable.name}",
            f"-{variable.alias}" if len(variable.alias) == 1 else f"--{variable.alias}",
        ]
        option = typer.Option(... if variable.required else "", *flags, help=variable.description)
        params.append(
            inspect.Parameter(
                _param(variable.name), inspect.Parameter.KEYWORD_ONLY, default=option, annotation=str
            )
        )
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: str for p in params} | {"return": None}
    command.__doc__ = fixture.description
    return command


def _param(name: str) -> str:
    return name.replace("-", "_")


for _fixture in FIXTURES.values():
    if not _fixture.internal:
        inject_app.command(_fixture.cli_name)(_fixture_command(_fixture))


# -- kill ------------------------------------------------------------------------------------------------


@kill_app.command("universe")
def kill_universe(name: str = UniverseArg) -> None:
    """Stop a universe and every node in it."""
    with client() as api:
        api.kill_universe(name)
    output.success(f"Universe {name.lower()} stopped")


@kill_app.command("simple")
def kill_simple(name: str = typer.Argument("client"), universe: str = UniverseArg) -> None:
    """Stop a simple."""
    with client() as api:
        api.kill_simple(universe, name)
    output.success(f"Simple {name}@{universe.lower()} stopped")


@kill_app.command("services")
def kill_services(
    names: str = typer.Argument(..., help="Services (comma list)"), universe: str = UniverseArg
) -> None:
    """Stop the first instance of each named service."""
    with client() as api:
        for name in split([names]):
            result = api.kill_service(universe, name)
            output.success(f"{name}@{universe.lower()} (pid {result['killed']['pid']}) stopped")


@kill_app.command("multiverse")
def kill_multiverse() -> None:
    """Stop the daemon and every universe."""
    from dream.node.runtime import process_start

    with client() as api:
        pid = api.shutdown()
    # Done only when the daemon process is gone: a `dream new multiverse` right after must not find it.
    deadline = time.monotonic() + 60
    while pid and process_start(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid and process_start(pid):
        raise DreamError(
            f"the daemon (pid {pid}) is still stopping after 60 s; see its log in ~/.cache/dream"
        )
    output.success("Multiverse stopped")


def _kill_service(service: str) -> Any:
    def command(universe: str = UniverseArg) -> None:
        with client() as api:
            result = api.kill_service(universe, service)
        output.success(f"{service}@{universe.lower()} (pid {result['killed']['pid']}) stopped")

    command.__doc__ = f"Stop the first {service} node."
    return command


for _service in SERVICES:
    kill_app.command(_service)(_kill_service(_service))


# -- status ----------------------------------------------------------------------------------------------


@status_app.callback()
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


@status_app.command("universe")
def status_universe(name: str = UniverseArg, as_json: bool = JsonOpt) -> None:
    """Every node of a universe with its state, restarts, protocols and ports (see `dream status`)."""
    with client() as api:
        graph = api.graph(name)
    if as_json:
        output.dump_json(graph)
        return
    output.console.print(output.universe_table(graph["nodes"]))


status_app.command("u", hidden=True)(status_universe)


@status_app.command("id")
def status_id(name: str = UniverseArg, as_json: bool = JsonOpt) -> None:
    """The universe's id."""
    with client() as api:
        universe_id = api.universe_id(name)
    if as_json:
        output.dump_json({"id": universe_id})
    else:
        output.console.print(f"Universe id: {universe_id}")


def _status_service(service: str) -> Any:
    def command(universe: str = UniverseArg, as_json: bool = JsonOpt) -> None:
        with client() as api:
            node = api.node(universe, service)
        if as_json:
            output.dump_json(node)
            return
        if "http" in node["value"]:  # not for a node left down: nothing serves there
            output.console.print(f"@ http://127.0.0.1:{node['value']['http']}")
        output.console.print(output.node_table(node))

    command.__doc__ = f"The {service} node's state and ports."
    return command


for _service in SERVICES:
    status_app.command(_service)(_status_service(_service))


# -- list / logs -----------------------------------------------------------------------------------------


@list_app.command("universes")
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


@list_app.command("services")
def list_services() -> None:
    """The services a universe can run."""
    for name in SERVICES:
        output.console.print(name)


@list_app.command("fixtures")
def list_fixtures() -> None:
    """Fixtures `dream inject` can run."""
    for fixture in sorted(FIXTURES.values(), key=lambda f: f.cli_name):
        if not fixture.internal:
            output.console.print(f"{fixture.cli_name}\t{fixture.description}")


@list_app.command("shapes")
def list_shapes() -> None:
    """Universe shapes in universes/."""
    for name in available_shapes():
        output.console.print(name)


@app.command("doctor")
def doctor(
    warm: bool = typer.Option(
        False, "--warm", help="Pay each toolchain's one-time cost now (Go std, wasi-libc)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The guest toolchains monkey builds with: found or missing, version, and how to install."""
    from rich.table import Table

    from dream.monkey.builders.languages import CompileError
    from dream.monkey.builders.sandbox import SandboxUnavailable
    from dream.monkey.builders.toolchains import find_toolchains
    from dream.monkey.builders.toolchains import warm as warm_toolchain

    chains = find_toolchains()
    if as_json:
        output.dump_json(
            [
                {
                    "name": c.name,
                    "found": c.found,
                    "version": c.version,
                    "path": str(c.path or ""),
                    "install": c.install_command,
                }
                for c in chains
            ]
        )
    else:
        table = Table("toolchain", "status", "version", "install with")
        for chain in chains:
            status = "[green]found[/green]" if chain.found else "[red]missing[/red]"
            table.add_row(
                chain.name, status, chain.version or "", "" if chain.found else chain.install_command
            )
        output.console.print(table)
    if warm:
        names = {c.name for c in chains if c.found}
        for name in ("go", "c", "zig", "rust", "assemblyscript", "wat"):
            if name in names or (name == "c" and "zig" in names):
                output.info(f"warming {name}...")
                try:
                    seconds = warm_toolchain(name, log=lambda line: None)
                except (CompileError, SandboxUnavailable) as exc:
                    raise DreamError(f"warming {name} failed: {exc}") from None
                output.success(f"{name} ready ({seconds:.1f}s)")
    if not all(c.found for c in chains):
        raise typer.Exit(1)


@app.command("logs")
def logs(
    node: str = typer.Argument(..., help="Service or simple name, name-<index>, or node id"),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines"),
) -> None:
    """Print a node's log."""
    with client() as api:
        offset = 0
        while True:
            chunk = api.logs(universe, node, offset)
            sys.stdout.write(chunk["text"])
            sys.stdout.flush()
            offset = chunk["offset"]
            if not follow:
                return
            time.sleep(0.25)


def main() -> None:
    try:
        app()
    except DreamError as exc:
        output.error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
