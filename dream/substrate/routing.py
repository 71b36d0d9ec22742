"""What a substrate serves for a Host: functions and websites resolved through tns, cached per host.

For each kind, `http/<kind>/<reversed host>/links` lists index paths; each is resolved on the first
default branch with a current commit into the resource's config at that commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Resource:
    kind: str  # "functions" | "websites"
    id: str
    project: str
    branch: str
    commit: str
    app: str | None
    config: dict[str, Any]
    asset: str | None = None  # the CID of its build, when read with the route table

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.id))


@dataclass
class RouteTable:
    host: str
    functions: list[Resource] = field(default_factory=list)
    websites: list[Resource] = field(default_factory=list)

    def function(self, method: str, path: str) -> tuple[Resource | None, list[str]]:
        """(the function for method+path, methods that exist for the path when none matches)."""
        allowed: list[str] = []
        for resource in self.functions:
            paths = resource.config.get("paths") or []
            if path in paths:
                configured = str(resource.config.get("method", "")).upper()
                if configured == method:
                    return resource, []
                allowed.append(configured)
        return None, sorted(set(allowed))

    def website(self, method: str, path: str) -> tuple[Resource, str] | None:
        """(the website whose path prefix is the longest match, that prefix)."""
        if method not in ("GET", "HEAD"):
            return None
        best: tuple[Resource, str] | None = None
        for resource in self.websites:
            for prefix in resource.config.get("paths") or ["/"]:
                normal = "/" + str(prefix).strip("/")
                if (path == normal or path.startswith(normal.rstrip("/") + "/")) and (
                    best is None or len(normal) > len(best[1])
                ):
                    best = (resource, normal)
        return best


def parse_index(path: str) -> tuple[str, str, str | None, str, str]:
    """`branches/<b>/projects/<pid>[/applications/<app>]/<kind>/<id>` → (branch, pid, app, kind, id)."""
    parts = path.strip("/").split("/")
    if len(parts) < 6 or parts[0] != "branches" or parts[2] != "projects":
        raise ValueError(f"not an index path: {path}")
    branch, pid = parts[1], parts[3]
    app = parts[5] if parts[4] == "applications" else None
    kind, res_id = parts[-2], parts[-1]
    return branch, pid, app, kind, res_id


def domain_allowed(host: str, project: str, universe: str) -> bool:
    """Dev-mode domain check: a generated domain must carry the last 8 chars of its project id."""
    generated = re.compile(rf"^([^.]+)\.(g\.)?{re.escape(universe)}\.localtau$")
    match = generated.match(host)
    if not match:
        return True  # custom domains pass in dev mode, like upstream's dreamland
    return project[-8:].lower() in match.group(1)
