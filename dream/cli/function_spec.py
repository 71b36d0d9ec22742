"""What `dream run function` needs to know about a function folder: its export, trigger and limits.

Read from the function's own YAML, as the compiler reads it (`dream.tcc.schema`): `function.yaml` in the
folder (the templates' layout), or `config/functions/<name>.yaml` of the project the folder is the code of
(`<project>/code/functions/<name>`, `<project>/code/<app>/functions/<name>` for an application's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dream.tcc.errors import CompileError, ConfigError
from dream.tcc.loader import LineDict, load_mapping
from dream.tcc.schema import Fields, compile_function

TEMPLATE_SPEC = "function.yaml"
NO_DOMAIN = "localhost"  # the Host a run uses when the function names no domain dream can resolve


@dataclass
class FunctionSpec:
    """The parts of a function's config a local run uses (everything optional: flags may fill them)."""

    name: str
    file: str | None = None  # where it was read from
    call: str | None = None
    method: str | None = None
    path: str | None = None
    domain: str | None = None
    timeout: float | None = None  # seconds
    memory: int | None = None  # bytes


class _Names:
    """Resolves names as the compiler would, leniently: a local run needs no library or smartop, and an
    unknown domain is only a Host header (`localhost`)."""

    def __init__(self, fqdns: dict[str, str]) -> None:
        self.fqdns = fqdns

    def domain(self, name: str, fields: Fields, key: str, line: int | None) -> str | None:
        return self.fqdns.get(name, NO_DOMAIN)

    def library(self, name: str, fields: Fields, key: str, line: int | None) -> str | None:
        return name

    def smartop(self, name: str, fields: Fields, key: str, line: int | None) -> str | None:
        return name


def _spec_file(folder: Path) -> tuple[Path, Path | None] | None:
    """(spec YAML, its scope's folder in the config repo) for a function folder, or None."""
    own = folder / TEMPLATE_SPEC
    if own.is_file():
        return own, None
    if folder.parent.name != "functions":
        return None
    for root in folder.parents:
        config = root / "config"
        code = root / "code"
        if (config / "config.yaml").is_file() and folder.is_relative_to(code):
            parts = folder.relative_to(code).parts
            scope = config if len(parts) == 2 else config / "applications" / parts[0]
            found = scope / "functions" / f"{folder.name}.yaml"
            return (found, scope) if found.is_file() else None
    return None


def _fqdns(scope: Path | None) -> dict[str, str]:
    """Domain name → fqdn of the scope, and of the project when the scope is an application."""
    if scope is None:
        return {}
    scopes = [scope] if scope.parent.name != "applications" else [scope.parent.parent, scope]
    found: dict[str, str] = {}
    for each in scopes:
        for path in sorted((each / "domains").glob("*.y*ml")):
            try:
                fqdn = load_mapping(path, file=path.name).get("fqdn")
            except ConfigError:
                continue
            if isinstance(fqdn, str) and fqdn:
                found[path.stem] = fqdn
    return found


def read_spec(folder: Path) -> FunctionSpec:
    """The function's config next to (or for) `folder`; an empty spec when there is none. Problems in the
    YAML raise `CompileError` with their file and line, as `dream validate` prints them."""
    name = folder.name
    located = _spec_file(folder)
    if located is None:
        return FunctionSpec(name=name)
    path, scope = located
    file = str(path)
    errors: list[ConfigError] = []
    try:
        data: LineDict = load_mapping(path, file=file)
    except ConfigError as error:
        raise CompileError([error]) from None
    fields = Fields(data, file, errors)
    # A template's spec is named for its role (function.yaml): the function is then its folder.
    path_name = name if path.name == TEMPLATE_SPEC else path.stem
    obj: dict[str, Any] = compile_function(path_name, fields, _Names(_fqdns(scope)))
    if errors:
        raise CompileError(errors)
    paths = obj.get("paths") or []
    domains = obj.get("domains") or []
    return FunctionSpec(
        name=path_name,
        file=file,
        call=obj.get("call") or None,
        method=obj.get("method") or None,
        path=paths[0] if paths else None,
        domain=domains[0] if domains else None,
        timeout=obj["timeout"] / 1e9 if obj.get("timeout") else None,
        memory=int(obj["memory"]) if obj.get("memory") else None,
    )
