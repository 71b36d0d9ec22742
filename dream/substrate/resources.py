"""Which database or storage of a project a name opens, as upstream resolves `database.New(name)` and
`storage.New(name)`: the application's resources first, then the project's, at the function's commit;
the first whose `match` equals the name (or, with `useRegex`, whose regex finds it) wins. Each
(project, application, name asked for) is a keyspace of its own. Shared by the substrate and the
daemon's data routes (`dream data`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dream.clients.hoarder import space_id

# A database whose config sets no `storage.size` may hold this many bytes of keys and values.
DEFAULT_DATABASE_SIZE = 64 * 1024 * 1024
# A storage whose config sets no `object.size` (or `streaming.size`) may hold this many bytes of files.
DEFAULT_STORAGE_SIZE = 64 * 1024 * 1024


@dataclass(slots=True)
class Opened:
    """A keyspace as a function opened it: the name asked for and the database that matched."""

    name: str
    space: str
    project: str
    app: str
    database: str  # the matching database's (or storage's) name (its file name)
    limit: int
    versioning: bool = False  # storages: each add is a new version
    ttl: float = 0.0  # streaming storages: seconds a file is kept after it is added (0: for good)

    def put_options(self) -> dict[str, Any]:
        """Whose keyspace it is and its limit, as hoarder's `put` takes them."""
        return {"project": self.project, "app": self.app, "name": self.name, "limit": self.limit}

    def add_options(self) -> dict[str, Any]:
        """How the storage keeps files, as hoarder's `add_file` takes it."""
        return {
            "versioning": self.versioning,
            "ttl": self.ttl,
            "capacity": self.limit,
            "project": self.project,
            "app": self.app,
            "storage": self.name,
        }


def resolve(
    project: dict[str, Any], project_id: str, app: str | None, kind: str, name: str
) -> tuple[Opened | None, list[dict[str, Any]]]:
    """The keyspace `name` opens for a function of `project_id` (in application `app`), given the
    project's compiled config: (the match or None, the candidate resources in the order tried).
    `kind`: `databases` or `storages`. The application's resources come first, then the project's."""
    candidates: list[dict[str, Any]] = []
    if app:
        found = (project.get("applications") or {}).get(app) or {}
        candidates += list((found.get(kind) or {}).values())
    candidates += list((project.get(kind) or {}).values())
    for config in candidates:
        match = str(config.get("match", ""))
        if config.get("regex"):
            try:
                fits = re.search(match, name) is not None
            except re.error:
                fits = False
        else:
            fits = match == name
        if fits:
            default = DEFAULT_DATABASE_SIZE if kind == "databases" else DEFAULT_STORAGE_SIZE
            opened = Opened(
                name,
                space_id(project_id, app, name, "db" if kind == "databases" else "storage"),
                project_id,
                app or "",
                str(config.get("name", "")),
                int(config.get("size") or 0) or default,
                bool(config.get("versioning")),
                int(config.get("ttl") or 0) / 1e9 if config.get("type") == "streaming" else 0.0,
            )
            return opened, candidates
    return None, candidates


def describe(candidates: list[dict[str, Any]]) -> str:
    """The resources a name was tried against, for the line saying none matched."""
    listed = ", ".join(
        f"`{c.get('match')}` ({c.get('name')}{', regex' if c.get('regex') else ''})" for c in candidates
    )
    return listed or "none"
