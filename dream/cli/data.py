"""`dream data`: what a project's functions keep: its databases' keys and values, its storages' files.

Databases and storages are named as a function names them (`/users`, `/uploads`): the same keyspace a
call of `database.New("/users")` opens in the project (or in application `--app`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import typer

from dream.cli import output
from dream.cli.common import JsonOpt, client
from dream.errors import DreamError
from dream.settings import DEFAULT_UNIVERSE

app = typer.Typer(
    help="A project's data: list its databases and storages, get/put/delete keys, list/read/write files.",
    no_args_is_help=True,
)

UniverseOpt = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u")
AppOpt = typer.Option(None, "--app", help="An application's name or id (names then resolve in it first)")
ProjectArg = typer.Argument(..., help="Project name or id")
DatabaseArg = typer.Argument(..., help="Database name as a function asks for it, e.g. /users")
StorageArg = typer.Argument(..., help="Storage name as a function asks for it, e.g. /uploads")


def _write_out(data: bytes) -> None:
    """Bytes to stdout as they are (a value or file need not be text)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    if sys.stdout.isatty() and not data.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()


def _read_in(value: str | None, file: Path | None) -> bytes:
    if file is not None:
        if str(file) == "-":
            return sys.stdin.buffer.read()
        try:
            return file.read_bytes()
        except OSError as exc:
            raise DreamError(f"cannot read {file}: {exc.strerror}") from None
    if value is None:
        raise DreamError("give the value as an argument, or --file PATH (--file - reads stdin)")
    return value.encode()


@app.command("list")
def data_list(
    project: str = ProjectArg, universe: str = UniverseOpt, app_ref: str = AppOpt, as_json: bool = JsonOpt
) -> None:
    """The project's databases and storages, with the keyspaces hoarder keeps for them."""
    from rich.markup import escape
    from rich.table import Table

    with client() as api:
        found = api.data(universe, project, app=app_ref)
    if _json(found, as_json):
        return
    table = Table("kind", "name", "match", "size", "application")
    for kind in ("databases", "storages"):
        for item in found[kind]:
            match = f"{item['match']} (regex)" if item["regex"] else item["match"]
            size = str(item["size"] or "default")
            cells = (kind[:-1], str(item["name"]), str(match), size, str(item["application"] or "-"))
            table.add_row(*map(escape, cells))  # a regex's [a-z] is not markup
    output.console.print(f"[bold]{escape(found['name'])}[/bold] ({found['project']})")
    output.console.print(table)
    keyspaces = Table("keyspace (name asked for)", "application", "keys", "bytes used", "limit")
    for space in found["keyspaces"]:
        keyspaces.add_row(
            space["name"],
            space["app"] or "-",
            str(space["keys"]),
            str(space["used"]),
            str(space["limit"] or "-"),
        )
    if found["keyspaces"]:
        output.console.print(keyspaces)
    else:
        output.console.print("no data kept yet")


@app.command("keys")
def data_keys(
    project: str = ProjectArg,
    database: str = DatabaseArg,
    prefix: str = typer.Option("", "--prefix", help="Only keys starting with this"),
    universe: str = UniverseOpt,
    app_ref: str = AppOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The keys of a database (sorted)."""
    with client() as api:
        found = api.data_keys(universe, project, database, prefix=prefix, app=app_ref)
    if _json(found, as_json):
        return
    for key in found:
        output.console.print(key, markup=False)


def _json(found: Any, as_json: bool) -> bool:
    """With --json: print `found` as JSON (and the command is done)."""
    if as_json:
        output.dump_json(found)
    return as_json


def _done(done: Any, as_json: bool, said: str) -> None:
    """What a write did: as JSON with --json, else the sentence `said`."""
    if not _json(done, as_json):
        output.success(said)


@app.command("get")
def data_get(
    project: str = ProjectArg,
    database: str = DatabaseArg,
    key: str = typer.Argument(...),
    universe: str = UniverseOpt,
    app_ref: str = AppOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A key's value, written to stdout as it is stored."""
    with client() as api:
        value = api.data_get(universe, project, database, key, app=app_ref)
    if as_json:
        try:
            text: str | None = value.decode()
        except UnicodeDecodeError:
            text = None
        import base64

        output.dump_json(
            {"key": key, "size": len(value), "text": text, "base64": base64.b64encode(value).decode()}
        )
        return
    _write_out(value)


@app.command("put")
def data_put(
    project: str = ProjectArg,
    database: str = DatabaseArg,
    key: str = typer.Argument(...),
    value: str = typer.Argument(None, help="The value (text); or use --file"),
    file: Path = typer.Option(None, "--file", help="Read the value from this file (- for stdin)"),
    universe: str = UniverseOpt,
    app_ref: str = AppOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Store a value at a key (every substrate's functions read it at once)."""
    data = _read_in(value, file)
    with client() as api:
        done = api.data_put(universe, project, database, key, data, app=app_ref)
    _done(done, as_json, f"put {len(data)} bytes at `{key}` in {done['database']}")


@app.command("delete")
def data_delete(
    project: str = ProjectArg,
    database: str = DatabaseArg,
    key: str = typer.Argument(...),
    universe: str = UniverseOpt,
    app_ref: str = AppOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Delete a key (deleting a key that does not exist is no error)."""
    with client() as api:
        done = api.data_delete(universe, project, database, key, app=app_ref)
    _done(done, as_json, f"deleted `{key}` from {done['database']}")


@app.command("files")
def data_files(
    project: str = ProjectArg,
    storage: str = StorageArg,
    universe: str = UniverseOpt,
    app_ref: str = AppOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every version of every file of a storage."""
    from rich.markup import escape
    from rich.table import Table

    with client() as api:
        found = api.data_files(universe, project, storage, app=app_ref)
    if _json(found, as_json):
        return
    table = Table("name", "version", "size", "cid")
    for item in found:
        table.add_row(escape(item["name"]), str(item["version"]), str(item["size"]), item["cid"])
    output.console.print(table)


@app.command("read")
def data_read(
    project: str = ProjectArg,
    storage: str = StorageArg,
    name: str = typer.Argument(..., help="File name"),
    version: int = typer.Option(0, "--version", min=0, help="Version (0: the latest)"),
    out: Path = typer.Option(None, "--output", "-o", help="Write the file here instead of stdout"),
    universe: str = UniverseOpt,
    app_ref: str = AppOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A storage file's bytes (its latest version, or --version), streamed: a file of any size."""
    with client() as api:
        if as_json:  # the bytes inside JSON: for small files
            found = api.data_read(universe, project, storage, name, version=version, app=app_ref)
            found.pop("data")
            output.dump_json(found)
            return
        if out is None:
            sys.stdout.flush()
            ending = _Ending(sys.stdout.buffer)
            api.data_read_stream(universe, project, storage, name, ending, version=version, app=app_ref)
            if sys.stdout.isatty() and ending.last not in (b"", b"\n"):
                sys.stdout.buffer.write(b"\n")
            sys.stdout.buffer.flush()
            return
        try:
            with open(out, "wb") as into:
                found = api.data_read_stream(
                    universe, project, storage, name, into, version=version, app=app_ref
                )
        except OSError as exc:
            raise DreamError(f"cannot write {out}: {exc.strerror}") from None
        except DreamError:
            out.unlink(missing_ok=True)  # no half-written file left behind
            raise
    output.success(f"wrote version {found['version']} of `{name}` ({found['size']} bytes) to {out}")


class _Ending:
    """A binary stream that remembers the last byte written (a terminal gets a newline after a file
    that does not end with one)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.last = b""

    def write(self, data: bytes) -> int:
        if data:
            self.last = data[-1:]
        return self.stream.write(data)


@app.command("write")
def data_write(
    project: str = ProjectArg,
    storage: str = StorageArg,
    name: str = typer.Argument(..., help="File name"),
    file: Path = typer.Argument(..., help="The file to store (- for stdin)"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the latest version instead of adding one"
    ),
    universe: str = UniverseOpt,
    app_ref: str = AppOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Store a file in a storage (a new version when the storage has versioning), streamed: a file of any
    size up to the storage's limit."""
    with client() as api:
        if str(file) == "-":
            done = api.data_write_stream(
                universe, project, storage, name, sys.stdin.buffer, overwrite=overwrite, app=app_ref
            )
        else:
            try:
                source = open(file, "rb")  # noqa: SIM115 (closed below)
            except OSError as exc:
                raise DreamError(f"cannot read {file}: {exc.strerror}") from None
            with source:
                done = api.data_write_stream(
                    universe, project, storage, name, source, overwrite=overwrite, app=app_ref
                )
    _done(done, as_json, f"stored `{name}` version {done['version']} ({done['size']} bytes, {done['cid']})")
