"""`dream project list|show`: a universe's projects and, for one, the URLs of its functions."""

from __future__ import annotations

import typer

from dream.cli import output
from dream.cli.common import JsonOpt, client
from dream.settings import DEFAULT_UNIVERSE

app = typer.Typer(
    help="Projects of a universe: list them, show one with its functions' URLs.", no_args_is_help=True
)


@app.command("list")
def project_list(
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"), as_json: bool = JsonOpt
) -> None:
    """Projects registered in a universe."""
    from rich.table import Table

    with client() as api:
        found = api.projects(universe)
    if as_json:
        output.dump_json(found)
        return
    table = Table("name", "id", "config repo", "code repo")
    for project in found:
        table.add_row(project["name"], project["id"], str(project["config"]), str(project["code"]))
    output.console.print(table)


@app.command("show")
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
        # First what a browser opens as it is (`*.localhost` is loopback with no set-up), then curl.
        for key in ("https_url", "url"):
            if function.get(key):
                output.console.print(f"    {function[key]}", markup=False, soft_wrap=True)
        if function.get("curl"):
            output.console.print(f"    {function['curl']}", soft_wrap=True)
