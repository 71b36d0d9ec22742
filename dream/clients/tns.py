"""The tns client: the one way any part of dream reads or writes the Taubyte Name Service.

Routes (POST bodies are JSON; a path is `"a/b/c"` or `["a", "b", "c"]`):
  POST /tns/push, /tns/push-many, /tns/fetch, /tns/fetch-many, /tns/lookup, /tns/list, /tns/delete;
  GET /tns/changes (long-poll), /tns/stats.
Above the routes, the reads that several services share (a project's published config, a build's CID,
a repository's role) are named here once, through the key layout of `dream.tcc.tns_keys`.
"""

from __future__ import annotations

from typing import Any, TypedDict

from dream.clients.base import ServiceClient
from dream.tcc import tns_keys

PUSH = "/tns/push"
PUSH_MANY = "/tns/push-many"
FETCH = "/tns/fetch"
FETCH_MANY = "/tns/fetch-many"
LOOKUP = "/tns/lookup"
LIST = "/tns/list"
DELETE = "/tns/delete"
CHANGES = "/tns/changes"
STATS = "/tns/stats"

Path = str | list[str]
# A project's compiled config as the config job publishes it (`dream.tcc.compiler`): functions,
# websites, libraries, domains, applications..., each by resource id.
PublishedConfig = dict[str, Any]


class Changes(TypedDict):
    """Where tns's change log is (`seq`) and the changes after the asked-for one: [seq, path] pairs."""

    seq: int
    changes: list[list[Any]]


class Stats(TypedDict):
    seq: int
    keys: int


class TnsClient(ServiceClient):
    service = "tns"

    # -- routes --------------------------------------------------------------------------------------

    async def push(self, path: Path, data: Any) -> int:
        """Store `data` at `path` (replacing what was under it); returns the change's sequence number."""
        return int((await self._json("POST", PUSH, json={"path": path, "data": data}))["seq"])

    async def push_many(self, items: list[tuple[str, Any]]) -> int:
        """Several pushes in order, in one call; returns the last change's sequence number."""
        answer = await self._json("POST", PUSH_MANY, json={"items": [[p, v] for p, v in items]})
        return int(answer["seq"])

    async def fetch(self, path: Path) -> Any:
        """The value at `path` (the tree under it when it is a prefix), None when nothing is there."""
        return (await self._json("POST", FETCH, json={"path": path}))["object"]

    async def fetch_many(self, paths: list[str]) -> list[Any]:
        """Several fetches in one call, answered in order."""
        if not paths:
            return []
        return list((await self._json("POST", FETCH_MANY, json={"paths": paths}))["objects"])

    async def lookup(self, prefix: Path, *, regex: bool = False) -> list[str]:
        """The keys under `prefix` (or matching it as a regular expression with `regex`)."""
        body: dict[str, Any] = {"prefix": prefix}
        if regex:
            body["regex"] = True
        return list((await self._json("POST", LOOKUP, json=body))["keys"])

    async def list_keys(self, depth: int = 1) -> list[list[str]]:
        """Every key cut to its first `depth` segments, without duplicates."""
        return list((await self._json("POST", LIST, json={"depth": depth}))["keys"])

    async def delete(self, path: Path) -> int:
        """Remove `path` and everything under it; returns how many keys went."""
        return int((await self._json("POST", DELETE, json={"path": path}))["deleted"])

    async def changes(self, after: int, *, wait: float = 0.0, timeout: float | None = None) -> Changes:
        """The changes after sequence number `after`; with `wait`, held until one comes (long-poll, at
        most 30 s). `timeout` bounds the call itself (it must exceed `wait`)."""
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        answer = await self._json("GET", CHANGES, params={"after": after, "wait": wait}, **extra)
        return Changes(seq=int(answer["seq"]), changes=list(answer.get("changes", [])))

    async def stats(self) -> Stats:
        """The change log's sequence number and how many keys tns holds."""
        answer = await self._json("GET", STATS)
        return Stats(seq=int(answer["seq"]), keys=int(answer["keys"]))

    # -- what services read --------------------------------------------------------------------------

    async def current_commit(self, project_id: str, branch: str) -> str | None:
        """The commit of the project's config published last on `branch`."""
        current = await self.fetch(tns_keys.current_key(project_id, branch))
        if isinstance(current, dict) and current.get("current"):
            return str(current["current"])
        return None

    async def compiled_config(self, project_id: str, branch: str, commit: str) -> PublishedConfig | None:
        """The project's config as compiled and published at `commit`."""
        obj = await self.fetch(tns_keys.project_prefix(branch, commit, project_id))
        return obj if isinstance(obj, dict) else None

    async def published_config(self, project_id: str, branch: str) -> PublishedConfig | None:
        """The project's current config on `branch`, None while none is published."""
        commit = await self.current_commit(project_id, branch)
        return None if commit is None else await self.compiled_config(project_id, branch, commit)

    async def asset(self, project_id: str, resource_id: str, branch: str) -> str | None:
        """The CID of the latest build of a resource (function, website, library)."""
        cid = await self.fetch(tns_keys.asset_key(project_id, resource_id, branch))
        return cid if isinstance(cid, str) else None

    async def publish_assets(self, project_id: str, branch: str, builds: dict[str, str]) -> None:
        """Point each resource's asset key at its build's CID (resource id → CID), in one call."""
        await self.push_many(
            [(tns_keys.asset_key(project_id, res_id, branch), cid) for res_id, cid in builds.items()]
        )

    async def repository_type(self, repo_id: str, project_id: str) -> Any:
        """What the published config builds from a repository (website, library), None if nothing."""
        return await self.fetch(tns_keys.repo_type_key(repo_id, project_id))

    async def repository_resources(self, repo_id: str, project_id: str) -> list[str]:
        """The ids of the resources the published config builds from a repository."""
        keys = await self.lookup(tns_keys.repo_resources_prefix(repo_id, project_id))
        return sorted({k.rstrip("/").rsplit("/", 1)[-1] for k in keys})

    async def resolve_repository(self, repo_id: str, uri: str) -> None:
        """Record where a repository is cloned from (`resolve/repo/github/<id>`: {id, ssh})."""
        await self.push(tns_keys.resolve_repo_key(repo_id), {"id": repo_id, "ssh": uri})

    async def domain_is_linked(self, fqdn: str) -> bool:
        """Whether a published config serves `fqdn`."""
        return bool(await self.lookup(tns_keys.domain_links_key(fqdn)))
