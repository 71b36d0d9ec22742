"""`dream validate [PATH]`: compile a config repository as monkey does and list every problem in it.

It runs the same compiler (`dream.tcc`) monkey runs on a push, locally and without a universe, so a
config that validates here compiles there. Exit status 1 when there are problems: usable as a
pre-commit hook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from dream.cli import output
from dream.cli.common import JsonOpt
from dream.errors import DreamError

# The branch and commit a local compile publishes under: names only, nothing is published.
VALIDATE_BRANCH = "main"
VALIDATE_COMMIT = "working-copy"


def config_root(path: Path) -> Path:
    """The config repository at `path`: the folder holding `config.yaml`, or a project folder's `config/`
    (the layout `dream new project` writes)."""
    path = path.expanduser()
    if not path.exists():
        raise DreamError(
            f"{path} does not exist; pass a config repository or a project folder holding config/"
        )
    if path.is_file():
        # A file inside the repository (an editor's current file): validate the repository it is in.
        path = path.parent
    for candidate in (path, *path.parents):
        # An application's own config.yaml is not a repository root: keep looking further up.
        if (candidate / "config.yaml").is_file() and candidate.parent.name != "applications":
            return candidate
        if (candidate / "config" / "config.yaml").is_file():
            return candidate / "config"
    return path  # no config.yaml anywhere: the compiler says what is missing


def problems_of(error: Exception) -> list[Any]:
    from dream.tcc.errors import CompileError, ConfigError

    if isinstance(error, CompileError):
        return list(error.errors)
    if isinstance(error, ConfigError):
        return [error]
    raise error


def shown_path(root: Path, file: str | None) -> str:
    """A problem's file as the user's editor opens it from here: relative to the current directory."""
    if not file:
        return str(root)
    full = (root / file).resolve()
    try:
        return str(full.relative_to(Path.cwd()))
    except ValueError:  # outside the current directory: absolute
        return str(full)


def validate(
    path: Path = typer.Argument(Path("."), help="Config repository, a project folder or a file in one"),
    as_json: bool = JsonOpt,
) -> None:
    """Compile a config repository as monkey would and print every problem with file, line and fix."""
    from dream.tcc.compiler import compile_project

    root = config_root(path)
    try:
        compiled = compile_project(root, branch=VALIDATE_BRANCH, commit=VALIDATE_COMMIT)
    except DreamError as exc:
        problems = problems_of(exc)
        rows = [
            {
                "file": problem.file,
                "path": shown_path(root, problem.file),
                "line": problem.line,
                "key": problem.key,
                "message": problem.message,
            }
            for problem in problems
        ]
        if as_json:
            output.dump_json({"ok": False, "root": str(root), "problems": rows})
        else:
            for row in rows:
                where = row["path"] if row["line"] is None else f"{row['path']}:{row['line']}"
                key = f"{row['key']}: " if row["key"] else ""
                output.errors.print(f"{where}: {key}{row['message']}", markup=False, soft_wrap=True)
            files = len({row["file"] for row in rows})
            output.error(
                f"{len(rows)} problem{'s' if len(rows) != 1 else ''} in {files} file{'s' if files != 1 else ''} "
                f"of {root}"
            )
        raise typer.Exit(1) from None
    counts: dict[str, int] = {}
    for resource in compiled.resources:
        counts[resource.kind] = counts.get(resource.kind, 0) + 1
    if as_json:
        output.dump_json(
            {
                "ok": True,
                "root": str(root),
                "project": compiled.project_id,
                "resources": counts,
                "problems": [],
            }
        )
        return
    listed = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no resources"
    output.success(f"{root} compiles: project {compiled.project_id}, {listed}")
