"""TNS stores data flattened: one entry per leaf of a pushed map, rebuilt into maps on fetch.

Pushing `{"a": {"b": 1, "c": [2]}}` at `x/y` stores leaves `x/y/a/b` = 1 and `x/y/a/c` = [2]. Fetching a
path returns the leaf itself when it is one, else the map rebuilt from every leaf below it, else None.
Lists are leaves (link lists are replaced, not merged), and pushing merges: other leaves stay.
"""

from __future__ import annotations

from typing import Any

SEP = "/"


def normalize(path: str | list[str]) -> str:
    if isinstance(path, str) and path and path[0] != SEP and path[-1] != SEP and SEP + SEP not in path:
        return path  # already normal: the common case, kept cheap (a substrate's fetches)
    parts = path if isinstance(path, list) else str(path).split(SEP)
    clean = [str(p) for p in parts if str(p) != ""]
    if not clean:
        raise ValueError("a TNS path needs at least one segment")
    for part in clean:
        if SEP in part:
            raise ValueError(f"path segment {part!r} contains '/'")
    return SEP.join(clean)


def flatten(path: str, data: Any) -> list[tuple[str, Any]]:
    if isinstance(data, dict) and data:
        leaves: list[tuple[str, Any]] = []
        for key, value in data.items():
            leaves += flatten(f"{path}{SEP}{key}", value)
        return leaves
    return [(path, data)]


def rebuild(path: str, leaves: list[tuple[str, Any]]) -> Any:
    """Nested map from `(full key, value)` leaves at or below `path`."""
    exact = [value for key, value in leaves if key == path]
    below = [(key[len(path) + 1 :], value) for key, value in leaves if key.startswith(path + SEP)]
    if exact and not below:
        return exact[0]
    if not below:
        return None
    tree: dict[str, Any] = {}
    for relative, value in below:
        node = tree
        parts = relative.split(SEP)
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return tree
