"""`dream new ...` (and its alias `dream start`): a multiverse, a universe, a project, a website, a
library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from dream.cli import output
from dream.cli.common import ShapeOpt, UniverseArg, client, shape_of, split, with_shape_flags
from dream.settings import DEFAULT_BRANCH, DEFAULT_UNIVERSE

app = typer.Typer(help="Create a multiverse or a universe.", no_args_is_help=True)


@with_shape_flags(after="daemon")
def multiverse(
    daemon: bool = typer.Option(False, "--daemon", help="Run in the background; return once started"),
    universes: list[str] = typer.Option(
        None, "--universes", "-u", help="Universes to start (default blackhole)"
    ),
    shape: str = ShapeOpt,
    branch: str = typer.Option(DEFAULT_BRANCH, "--branch", "-b", help="Default branch services build"),
    **flags: Any,
) -> None:
    """Start the daemon and a universe (`blackhole`); Ctrl-C stops everything."""
    from dream.cli.multiverse import start_multiverse

    start_multiverse(
        shape=shape_of(shape, flags),
        universes=universes,
        keep=flags["keep"],
        fixtures=flags["fixtures"],
        branch=branch,
        detach=daemon,
    )


app.command("multiverse")(multiverse)


@app.command("universe")
@with_shape_flags(after="name")
def universe(name: str = UniverseArg, shape: str = ShapeOpt, **flags: Any) -> None:
    """Create and start a universe in the running multiverse."""
    config = shape_of(shape, flags)
    with client() as api:
        api.new_universe(name, config.to_api(), keep=flags["keep"])
        for fixture in split(flags["fixtures"]):
            api.fixture(name, fixture, [])
    output.success(f"Universe {name.lower()} started!")


@app.command("project")
def project(
    name: str = typer.Argument(..., help="Project name (lower-case letters, digits, - and _)"),
    template: str = typer.Option(
        "ping_pong",
        "--template",
        help="Template from fixtures/templates: ping_pong (every language), kv_counter (a visit counter in a database: go, rust, assemblyscript)",
    ),
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


@app.command("website")
def website(
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


@app.command("library")
def library(
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
