"""substrate: serves the universe's HTTP functions (wasm, run by wasmtime) and websites.

HTTP (catch-all): Host + path + method → function or website, resolved through tns.
p2p:  GET /substrate/match?host=&path=&method=  → {match, warm}   (the gateway asks before choosing)

Route tables are cached per host and dropped when tns reports a change (a long-poll on its change log),
so a new push serves within a second of its job's success; modules are cached per CID (never stale).
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dream.errors import DreamError
from dream.node import Node
from dream.settings import cache_home
from dream.substrate import website
from dream.substrate.routing import Resource, RouteTable, domain_allowed, parse_index
from dream.tcc import tns_keys

MIN_MEMORY = 64 * 1024
# Calls under QUICK_CALL seconds, QUICK_STREAK times in a row, make a function run inline.
QUICK_CALL = 0.0005
QUICK_STREAK = 20


class Service(Node):
    fast_loop = True

    async def on_start(self) -> None:
        from dream.substrate.wasm.host import WasmHost

        self.host = WasmHost(cache_home() / "wasm")
        self.routes: dict[str, RouteTable] = {}
        self.building: dict[str, asyncio.Future[RouteTable]] = {}
        self.generation = 0  # bumped whenever tns changes: tables read before that are not kept
        self.modules: dict[str, Any] = {}  # cid → FunctionModule
        self.warm: set[str] = set()  # ids of functions whose module is loaded
        # function → (module, export): resolved once per route-table generation, not per request.
        self.resolved: dict[tuple[str, str, str, str], tuple[Any, str]] = {}
        # wasm runs off the event loop (wasmtime releases the GIL); a plain executor costs less per call
        # than anyio's thread hand-off.
        self.quick: dict[str, int] = {}  # function id → how many calls in a row were quick
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="wasm")
        self.sites: dict[str, Path] = {}  # cid → unpacked directory
        self.assets = self.config.root_path / "assets"
        self.assets.mkdir(parents=True, exist_ok=True)
        self.served = 0
        self.spawn(self._follow_tns(), "follow-tns")

    async def on_stop(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.host.stop()

    def health(self) -> dict[str, Any]:
        return {"served": self.served, "modules": len(self.modules), "hosts": len(self.routes)}

    def p2p_routes(self) -> list[BaseRoute]:
        return [Route("/substrate/match", self.match, methods=["GET"])]

    def http_routes(self) -> list[BaseRoute]:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return [Route("/{path:path}", self.serve, methods=methods)]

    # -- cache invalidation --------------------------------------------------------------------------

    async def _follow_tns(self) -> None:
        seq = -1
        while True:
            try:
                if seq < 0:
                    seq = int((await self.peers.json("tns", "GET", "/tns/stats"))["seq"])
                answer = await self.peers.json(
                    "tns", "GET", "/tns/changes", params={"after": seq, "wait": 20}, timeout=30
                )
            except DreamError:
                await asyncio.sleep(0.5)
                continue
            if answer["seq"] != seq:
                self.generation += 1
                self.routes.clear()
                self.resolved.clear()
                self.log.info("tns changed (seq %s): route tables dropped", answer["seq"])
                for _, path in answer.get("changes", []):
                    if path.startswith("assets/"):
                        self.spawn(self._prefetch(path), f"prefetch-{path}")
            seq = answer["seq"]

    async def _prefetch(self, asset_path: str) -> None:
        """A new build was published: bring its bytes here now, not on its first request."""
        try:
            cid = await self._fetch(asset_path)
            if isinstance(cid, str) and not (self.assets / cid).exists():
                await self._download(cid)
        except DreamError as exc:
            self.log.debug("prefetch of %s failed: %s", asset_path, exc)

    # -- resolving -----------------------------------------------------------------------------------

    async def _fetch(self, path: str) -> Any:
        return (await self.peers.json("tns", "POST", "/tns/fetch", json={"path": path}))["object"]

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
        generation = self.generation
        table = RouteTable(host)
        for kind in ("functions", "websites"):
            links = await self._fetch(tns_keys.http_links_key(kind, host)) or []
            resources = await asyncio.gather(
                *(self._resolve(link) for link in links if isinstance(links, list))
            )
            getattr(table, kind).extend(r for r in resources if r is not None)
        if generation == self.generation:  # tns did not change while we read it
            self.routes[host] = table
        return table

    async def _resolve(self, link: str) -> Resource | None:
        branch, pid, app, kind, res_id = parse_index(link)
        current = await self._fetch(tns_keys.current_key(pid, branch))
        if not isinstance(current, dict) or not current.get("current"):
            return None
        config = await self._fetch(tns_keys.index_to_resource_key(link, current["current"]))
        if not isinstance(config, dict):
            return None
        return Resource(kind, res_id, pid, branch, current["current"], app, config)

    async def _asset(self, resource: Resource, res_id: str | None = None) -> tuple[str, bytes | None]:
        cid = await self._fetch(tns_keys.asset_key(resource.project, res_id or resource.id, resource.branch))
        if not isinstance(cid, str):
            raise DreamError(f"{resource.kind[:-1]} `{resource.name}` has no build yet: push its code")
        if (self.assets / cid).exists():
            return cid, None
        return cid, await self._download(cid, resource.name)

    async def _download(self, cid: str, name: str = "") -> bytes:
        response = await self.peers.call("hoarder", "GET", f"/hoarder/blob/{cid}")
        if response.status_code != 200:
            raise DreamError(f"the build {cid} of `{name or cid}` is not in any hoarder")
        cached = self.assets / cid
        tmp = cached.with_suffix(f".{id(response)}.tmp")
        tmp.write_bytes(response.content)
        tmp.replace(cached)
        return response.content

    async def module(self, resource: Resource) -> tuple[Any, str]:
        """(the loaded module, the export to call) for a function."""
        key = (resource.project, resource.id, resource.branch, resource.commit)
        found = self.resolved.get(key)
        if found is None:
            found = self.resolved[key] = await self._load(resource)
        return found

    async def _load(self, resource: Resource) -> tuple[Any, str]:
        source = str(resource.config.get("source") or ".")
        call = str(resource.config.get("call") or "")
        if source.startswith("libraries/"):
            library_id = source.split("/", 1)[1]
            cid, data = await self._asset(resource, library_id)
            name = f"libraries/{library_id}"
        else:
            cid, data = await self._asset(resource)
            name = f"functions/{resource.name}"
        module = self.modules.get(cid)
        if module is None:
            payload = data if data is not None else (self.assets / cid).read_bytes()
            module = await run_in_threadpool(self.host.load, cid, payload, name=name)
            self.modules[cid] = module
        self.warm.add(resource.id)
        return module, call

    # -- serving -------------------------------------------------------------------------------------

    async def serve(self, request: Request) -> Response:
        host = (request.headers.get("host") or "").split(":", 1)[0].lower().rstrip(".")
        method = request.method
        path = unquote(request.url.path)
        url = f"http://{host}{request.url.path}"
        try:
            table = await self.table(host)
        except DreamError as exc:
            return PlainTextResponse(f"cannot resolve {host}: {exc}", status_code=503)
        function, allowed = table.function(method, path)
        if function is not None:
            if not domain_allowed(host, function.project, self.config.universe):
                return PlainTextResponse(
                    f"domain {host} does not belong to project {function.project}", status_code=403
                )
            return await self._run(function, request, host, path)
        site = table.website(method, path)
        if site is not None:
            return await self._site(site[0], site[1], path)
        if allowed:
            return PlainTextResponse(
                f"method {method} not allowed on {url} (allowed: {', '.join(allowed)})",
                status_code=405,
                headers={"allow": ", ".join(allowed)},
            )
        return PlainTextResponse(f"no HTTP match found for method {method} on {url}", status_code=404)

    async def _run(self, function: Resource, request: Request, host: str, path: str) -> Response:
        from dream.substrate.wasm.errors import WasmError, WasmLoadError, WasmTimeout
        from dream.substrate.wasm.types import HttpRequest

        try:
            module, call = await self.module(function)
        except WasmLoadError as exc:
            return PlainTextResponse(f"function {function.name} cannot load: {exc}", status_code=500)
        except DreamError as exc:
            return PlainTextResponse(str(exc), status_code=503)
        event = HttpRequest(
            method=request.method,
            host=request.headers.get("host", host),
            path=path,
            query=list(request.query_params.multi_items()),
            headers=[(k, v) for k, v in request.headers.items()],
            body=await request.body(),
        )
        timeout = float(function.config.get("timeout") or 10_000_000_000) / 1e9
        memory = (
            max(int(function.config.get("memory") or 0), MIN_MEMORY)
            if function.config.get("memory")
            else 64 << 20
        )
        run = functools.partial(module.call, call, event, timeout=timeout, memory_limit=memory)
        # A function that has always been quick runs inline: the thread hand-off would cost more than the
        # call. Anything slower runs on the executor, so it cannot stall the event loop.
        inline = self.quick.get(function.id, 0) >= QUICK_STREAK
        started = time.perf_counter()
        try:
            if inline:
                result = run()
            else:
                result = await asyncio.get_running_loop().run_in_executor(self.executor, run)
        except WasmTimeout as exc:
            self.quick[function.id] = 0
            return PlainTextResponse(str(exc), status_code=504)
        except WasmError as exc:
            return PlainTextResponse(str(exc), status_code=500)
        took = time.perf_counter() - started
        self.quick[function.id] = self.quick.get(function.id, 0) + 1 if took < QUICK_CALL else 0
        self.served += 1
        self.log.debug("%s %s%s → %s in %.1f ms", request.method, host, path, result.status, took * 1000)
        response = Response(result.body, status_code=result.status)
        for key, value in result.headers:
            response.headers.append(key, value)
        return response

    async def _site(self, resource: Resource, prefix: str, path: str) -> Response:
        try:
            cid, data = await self._asset(resource)
        except DreamError as exc:
            return PlainTextResponse(str(exc), status_code=503)
        site = self.sites.get(cid)
        if site is None:
            payload = data if data is not None else (self.assets / cid).read_bytes()
            try:
                site = await run_in_threadpool(website.unpack, payload, self.config.root_path / "sites" / cid)
            except ValueError as exc:
                return PlainTextResponse(str(exc), status_code=500)
            self.sites[cid] = site
        relative = path[len(prefix.rstrip("/")) :] if prefix != "/" else path
        found = website.find(site, relative or "/")
        if found is None:
            return PlainTextResponse(f"no file {path} in website {resource.name}", status_code=404)
        return FileResponse(found, media_type=website.content_type(found))

    async def match(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        host = request.query_params.get("host", "").lower()
        method = request.query_params.get("method", "GET")
        path = request.query_params.get("path", "/")
        try:
            table = await self.table(host)
        except DreamError:
            return JSONResponse({"match": False, "warm": False})
        function, _ = table.function(method, path)
        site = table.website(method, path)
        warm = function is not None and function.id in self.warm
        return JSONResponse({"match": function is not None or site is not None, "warm": warm})
