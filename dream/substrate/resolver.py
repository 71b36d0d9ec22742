"""What a Host serves, resolved through tns: route tables per host, functions resolved to their loaded
modules, and the tns follower that drops both when tns changes.

Route tables are cached per host and dropped when tns reports a change (a long-poll on its change log),
so a new push serves within a second of its job's success; modules are cached per CID (never stale).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from dream.errors import DreamError
from dream.limits import Limits
from dream.substrate.assets import Assets
from dream.substrate.data import Databases
from dream.substrate.modules import Modules
from dream.substrate.routing import Resource, RouteTable, parse_index
from dream.substrate.runner import ReadyFunction
from dream.substrate.sources import Sources
from dream.tcc import tns_keys

if TYPE_CHECKING:
    from dream.substrate.scope import Events
    from dream.wasm.host import WasmHost

MAX_HOSTS = 4096  # route tables kept (hosts asked for)
WARM_HOSTS = 64  # route tables re-read right after a tns change (the most recently built)
CHANGES_WAIT = 20  # seconds tns holds a long-poll for changes open
CHANGES_TIMEOUT = 30  # seconds before a long-poll is given up (tns is gone)
RETRY = 0.5  # seconds between tries while tns cannot be reached


class Resolver:
    def __init__(
        self,
        sources: Sources,
        assets: Assets,
        limits: Limits,
        log: logging.Logger,
        databases: Databases | None = None,
    ) -> None:
        self.sources = sources
        self.databases = databases
        self.assets = assets
        self.limits = limits
        self.log = log
        self.modules: Modules  # once the wasm runtime is up (`start`)
        self.routes: dict[str, RouteTable] = {}
        self.building: dict[str, asyncio.Future[RouteTable]] = {}
        self.generation = 0  # bumped whenever tns changes: tables read before that are not kept
        self.warm: set[str] = set()  # ids of functions whose module is loaded
        # function → its module and limits: resolved once per route-table generation, not per request.
        self.resolved: dict[tuple[str, str, str, str], ReadyFunction] = {}
        # (host, method, path) → the function it served: later requests skip routing (and starlette).
        # The front reads this very dict: it is cleared, never replaced.
        self.ready: dict[tuple[str, str, str], ReadyFunction] = {}
        self.jobs: set[asyncio.Future[Any]] = set()  # background work started on tns changes
        self.events: Events | None = None  # gives each function its scope (self, HTTP client, pub-sub)

    def start(self, host: WasmHost) -> None:
        self.modules = Modules(host, self.assets)

    # -- following tns -------------------------------------------------------------------------------

    async def follow(self) -> None:
        """Drop what was read from tns whenever it changes (runs until cancelled)."""
        seq = -1
        while True:
            try:
                if seq < 0:
                    seq = await self.sources.tns_seq()
                answer = await self.sources.tns_changes(seq, CHANGES_WAIT, CHANGES_TIMEOUT)
            except DreamError:
                await asyncio.sleep(RETRY)
                continue
            if answer["seq"] != seq:
                self._changed(answer)
            seq = answer["seq"]

    def _changed(self, answer: Any) -> None:
        self.generation += 1
        hosts = list(self.routes)[-WARM_HOSTS:]
        self.routes.clear()
        self.resolved.clear()
        self.ready.clear()
        self.log.info("tns changed (seq %s): route tables dropped", answer["seq"])
        # Read the new tables and builds now, not on the next request of each host.
        assets = [path for _, path in answer.get("changes", []) if path.startswith("assets/")]
        self._background(self._rewarm(hosts, assets), "rewarm")

    def _background(self, coro: Any, name: str) -> None:
        """A short task whose failure is only logged (kept referenced until it ends)."""
        task = asyncio.ensure_future(coro)
        self.jobs.add(task)

        def done(task: asyncio.Future[Any]) -> None:
            self.jobs.discard(task)
            if not task.cancelled() and task.exception() is not None:
                self.log.debug("%s failed: %s", name, task.exception())

        task.add_done_callback(done)

    async def _rewarm(self, hosts: list[str], assets: list[str]) -> None:
        await asyncio.gather(
            *(self.table(host) for host in hosts), *(self._prefetch(path) for path in assets)
        )

    async def _prefetch(self, asset_path: str) -> None:
        """A new build was published: bring its bytes here and load them, not on its first request."""
        try:
            cid = await self.sources.tns_fetch(asset_path)
            if not isinstance(cid, str) or self.modules.known(cid):
                return
            payload = None
            if not self.modules.compiled(cid):  # not compiled here: its bytes must tell
                payload = await self.assets.get(cid)
                if not self.modules.loadable(payload):  # a website
                    return
            await self.modules.ahead(cid, asset_path.rstrip("/").rsplit("/", 1)[-1], payload)
        except DreamError as exc:  # WasmLoadError included: its first request reports it
            self.log.debug("prefetch of %s failed: %s", asset_path, exc)

    # -- route tables --------------------------------------------------------------------------------

    async def table(self, host: str) -> RouteTable:
        cached = self.routes.get(host)
        if cached is not None:
            return cached
        # One build per host at a time: a burst of requests for a cold host waits on the same lookups.
        building = self.building.get(host)
        if building is None:
            building = self.building[host] = asyncio.ensure_future(self._build_table(host))
            building.add_done_callback(lambda _: self.building.pop(host, None))
        return await asyncio.shield(building)

    async def _build_table(self, host: str) -> RouteTable:
        """The host's functions and websites at their project's current commit: three tns round trips
        (links; current commits; configs and build CIDs), whatever the number of resources."""
        generation = self.generation
        kinds = ("functions", "websites")
        found = await self.sources.tns_fetch_many([tns_keys.http_links_key(kind, host) for kind in kinds])
        links: list[tuple[str, str, tuple[str, str, str | None, str, str]]] = []
        for kind, listed in zip(kinds, found, strict=True):
            for link in listed if isinstance(listed, list) else []:
                try:
                    links.append((kind, link, parse_index(str(link))))
                except ValueError:
                    self.log.warning("ignoring a malformed tns link for %s: %s", host, link)
        heads = sorted({(pid, branch) for _, _, (branch, pid, *_) in links})
        currents = await self.sources.tns_fetch_many([tns_keys.current_key(p, b) for p, b in heads])
        commits = dict(zip(heads, currents, strict=True))
        wanted = []
        for kind, link, (branch, pid, app, res_kind, res_id) in links:
            current = commits.get((pid, branch))
            if isinstance(current, dict) and current.get("current"):
                wanted.append((kind, link, branch, pid, app, res_kind, res_id, str(current["current"])))
        paths: list[str] = []
        for _, link, branch, pid, _, _, res_id, commit in wanted:
            paths += [tns_keys.index_to_resource_key(link, commit), tns_keys.asset_key(pid, res_id, branch)]
        objects = await self.sources.tns_fetch_many(paths)
        table = RouteTable(host)
        for index, (kind, _, branch, pid, app, res_kind, res_id, commit) in enumerate(wanted):
            config, asset = objects[2 * index], objects[2 * index + 1]
            if isinstance(config, dict):
                cid = asset if isinstance(asset, str) else None
                getattr(table, kind).append(Resource(res_kind, res_id, pid, branch, commit, app, config, cid))
        if generation == self.generation:  # tns did not change while we read it
            if len(self.routes) >= MAX_HOSTS:  # any Host header gets a table: keep the newest only
                self.routes.pop(next(iter(self.routes)))
            self.routes[host] = table
        return table

    # -- builds --------------------------------------------------------------------------------------

    async def asset_cid(self, resource: Resource, res_id: str | None = None) -> str:
        """The CID of the build of `resource` (or of its library `res_id`)."""
        cid = resource.asset if res_id is None else None
        if cid is None:
            cid = await self.sources.tns_fetch(
                tns_keys.asset_key(resource.project, res_id or resource.id, resource.branch)
            )
        if not isinstance(cid, str):
            raise DreamError(f"{resource.kind[:-1]} `{resource.name}` has no build yet: push its code")
        return cid

    async def function(self, resource: Resource) -> ReadyFunction:
        """The function's loaded module, export and limits."""
        key = (resource.project, resource.id, resource.branch, resource.commit)
        found = self.resolved.get(key)
        if found is None:
            found = self.resolved[key] = await self._load(resource)
        return found

    async def _load(self, resource: Resource) -> ReadyFunction:
        source = str(resource.config.get("source") or ".")
        if source.startswith("libraries/"):
            library_id = source.split("/", 1)[1]
            cid = await self.asset_cid(resource, library_id)
            name = f"libraries/{library_id}"
        else:
            cid = await self.asset_cid(resource)
            name = f"functions/{resource.name}"
        module = await self.modules.named(cid, name)
        self.warm.add(resource.id)
        ready = ReadyFunction.of(resource, module, self.limits)
        if module.uses_data and self.databases is not None:
            ready.data = self.databases.scope(resource)
        if self.events is not None:
            ready.scope = self.events.scope(resource)
        return ready
