"""substrate: serves the universe's HTTP functions (wasm, run by wasmtime) and websites.

HTTP (catch-all): Host + path + method → function or website, resolved through tns.
p2p:  GET /substrate/match?host=&path=&method=  → {match, warm}   (the gateway asks before choosing)

Route tables are cached per host and dropped when tns reports a change (a long-poll on its change log),
so a new push serves within a second of its job's success; modules are cached per CID (never stale).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dream.errors import DreamError
from dream.http.asgi import announces_body, read_body
from dream.http.message import Answer
from dream.http.message import Request as HttpServerRequest
from dream.node import Node
from dream.substrate import website
from dream.substrate.limits import Limits
from dream.substrate.routing import Resource, RouteTable, domain_allowed, parse_index
from dream.substrate.runner import ReadyFunction, Runner
from dream.tcc import tns_keys
from dream.wasm.errors import SubstrateBusy, WasmCancelled, WasmError, WasmLoadError, WasmTimeout
from dream.wasm.interrupt import CallControl
from dream.wasm.types import HttpRequest, HttpResponse

MAX_HOSTS = 4096  # route tables kept (hosts asked for)
WARM_HOSTS = 64  # route tables re-read right after a tns change (the most recently built)


class Service(Node):
    fast_loop = True
    own_http_server = True

    async def on_start(self) -> None:
        from dream.wasm.host import WasmHost

        self.host = WasmHost()  # the machine's module cache, which monkey fills
        self.routes: dict[str, RouteTable] = {}
        self.building: dict[str, asyncio.Future[RouteTable]] = {}
        self.generation = 0  # bumped whenever tns changes: tables read before that are not kept
        self.modules: dict[str, Any] = {}  # cid → FunctionModule
        self.loading: dict[str, asyncio.Future[Any]] = {}  # cid → its module being read and compiled
        self.unnamed: set[str] = set()  # cids loaded ahead of a request, named by the first function
        self.warm: set[str] = set()  # ids of functions whose module is loaded
        # function → its module and limits: resolved once per route-table generation, not per request.
        self.resolved: dict[tuple[str, str, str, str], ReadyFunction] = {}
        # (host, method, path) → the function it served: later requests skip routing (and starlette).
        self.ready: dict[tuple[str, str, str], ReadyFunction] = {}
        self.limits = Limits.from_others(self.config.others)
        self.log.info("serving limits: %s", self.limits.describe())
        self.runner = Runner(self.limits)
        self.jobs: set[asyncio.Future[Any]] = set()  # background work started on tns changes
        self.routed = super().http_app()  # starlette, for whatever the fast path does not take
        self.sites: dict[str, Path] = {}  # cid → unpacked directory
        self.assets = self.config.root_path / "assets"
        self.assets.mkdir(parents=True, exist_ok=True)
        self.served = 0
        self.spawn(self._follow_tns(), "follow-tns")

    async def on_stop(self) -> None:
        self.runner.close()
        self.host.stop()

    def health(self) -> dict[str, Any]:
        return {
            "served": self.served,
            "modules": len(self.modules),
            "hosts": len(self.routes),
            "calls": self.runner.health(),  # worker calls: running, queued, memory_reserved, stopped
            "wasm_call": self.host.call_path.name,  # raw, object or plain (DREAM_WASM_CALL)
        }

    def p2p_routes(self) -> list[BaseRoute]:
        return [Route("/substrate/match", self.match, methods=["GET"])]

    def http_routes(self) -> list[BaseRoute]:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return [Route("/{path:path}", self.serve, methods=methods)]

    def http_app(self) -> Any:
        return self.asgi

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
                hosts = list(self.routes)[-WARM_HOSTS:]
                self.routes.clear()
                self.resolved.clear()
                self.ready.clear()
                self.log.info("tns changed (seq %s): route tables dropped", answer["seq"])
                # Read the new tables and builds now, not on the next request of each host.
                assets = [path for _, path in answer.get("changes", []) if path.startswith("assets/")]
                self._background(self._rewarm(hosts, assets), "rewarm")
            seq = answer["seq"]

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
            cid = await self._fetch(asset_path)
            if not isinstance(cid, str) or cid in self.modules or cid in self.loading:
                return
            payload = None
            if not self.host.cache.has(cid):  # not compiled here: its bytes must tell
                path = self.assets / cid
                payload = path.read_bytes() if path.exists() else await self._download(cid)
                if not self.host.looks_loadable(payload):  # a website
                    return
            self.unnamed.add(cid)
            await self._module(cid, asset_path.rstrip("/").rsplit("/", 1)[-1], payload)
        except DreamError as exc:  # WasmLoadError included: its first request reports it
            self.log.debug("prefetch of %s failed: %s", asset_path, exc)

    # -- resolving -----------------------------------------------------------------------------------

    async def _fetch(self, path: str) -> Any:
        return (await self.peers.json("tns", "POST", "/tns/fetch", json={"path": path}))["object"]

    async def _fetch_many(self, paths: list[str]) -> list[Any]:
        if not paths:
            return []
        answer = await self.peers.json("tns", "POST", "/tns/fetch-many", json={"paths": paths})
        return list(answer["objects"])

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
        found = await self._fetch_many([tns_keys.http_links_key(kind, host) for kind in kinds])
        links: list[tuple[str, str, tuple[str, str, str | None, str, str]]] = []
        for kind, listed in zip(kinds, found, strict=True):
            for link in listed if isinstance(listed, list) else []:
                try:
                    links.append((kind, link, parse_index(str(link))))
                except ValueError:
                    self.log.warning("ignoring a malformed tns link for %s: %s", host, link)
        heads = sorted({(pid, branch) for _, _, (branch, pid, *_) in links})
        commits = dict(
            zip(heads, await self._fetch_many([tns_keys.current_key(p, b) for p, b in heads]), strict=True)
        )
        wanted = []
        for kind, link, (branch, pid, app, res_kind, res_id) in links:
            current = commits.get((pid, branch))
            if isinstance(current, dict) and current.get("current"):
                wanted.append((kind, link, branch, pid, app, res_kind, res_id, str(current["current"])))
        paths: list[str] = []
        for _, link, branch, pid, _, _, res_id, commit in wanted:
            paths += [tns_keys.index_to_resource_key(link, commit), tns_keys.asset_key(pid, res_id, branch)]
        objects = await self._fetch_many(paths)
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

    async def _asset_cid(self, resource: Resource, res_id: str | None = None) -> str:
        """The CID of the build of `resource` (or of its library `res_id`)."""
        cid = resource.asset if res_id is None else None
        if cid is None:
            cid = await self._fetch(
                tns_keys.asset_key(resource.project, res_id or resource.id, resource.branch)
            )
        if not isinstance(cid, str):
            raise DreamError(f"{resource.kind[:-1]} `{resource.name}` has no build yet: push its code")
        return cid

    async def _asset(self, resource: Resource) -> tuple[str, bytes | None]:
        """(CID, bytes if they had to be downloaded) of the build of `resource`."""
        cid = await self._asset_cid(resource)
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
            cid = await self._asset_cid(resource, library_id)
            name = f"libraries/{library_id}"
        else:
            cid = await self._asset_cid(resource)
            name = f"functions/{resource.name}"
        module = await self._module(cid, name)
        if cid in self.unnamed:  # loaded ahead, before its function was known
            self.unnamed.discard(cid)
            module.rename(name)
        self.warm.add(resource.id)
        return ReadyFunction.of(resource, module, self.limits)

    async def _module(self, cid: str, name: str, payload: bytes | None = None) -> Any:
        """The loaded module of a build: read and compiled once, by whichever asks first (`payload`:
        its bytes, when the caller already has them)."""
        module = self.modules.get(cid)
        if module is not None:
            return module
        loading = self.loading.get(cid)
        if loading is None:
            loading = self.loading[cid] = asyncio.ensure_future(self._read_module(cid, name, payload))
            loading.add_done_callback(lambda _: self.loading.pop(cid, None))
        return await asyncio.shield(loading)

    async def _read_module(self, cid: str, name: str, payload: bytes | None) -> Any:
        # Compiled on this machine when it was built: no download, no compile.
        module = await run_in_threadpool(self.host.load_cid, cid, name=name)
        if module is not None:
            self.modules[cid] = module
            return module
        path = self.assets / cid
        if payload is None and not path.exists():
            payload = await self._download(cid, name)

        def load() -> Any:  # on a worker thread: reading and compiling must not stall the loop
            return self.host.load(cid, payload if payload is not None else path.read_bytes(), name=name)

        module = await run_in_threadpool(load)
        self.modules[cid] = module
        return module

    # -- serving -------------------------------------------------------------------------------------

    def _ready_for(
        self, headers: list[tuple[bytes, bytes]], method: str, path: str
    ) -> tuple[bytes, ReadyFunction | None]:
        """(the raw Host header, the function this (host, method, path) already ran, if any)."""
        raw_host = _host_header(headers)
        return raw_host, self.ready.get((_normal_host(raw_host), method, path))

    def fast_http(self, request: HttpServerRequest) -> Answer | None:
        """A request for a (host, method, path) that already ran a function that runs inline: answered
        right here, from the HTTP parser's callback."""
        raw_host, ready = self._ready_for(request.headers, request.method, request.path)
        if ready is None or not ready.inline:
            return None
        event = _event_of(
            request.method, request.path, request.query, request.headers, request.body, raw_host
        )
        try:
            result = self.runner.run_inline(ready, event)
        except WasmError as exc:
            return _failed(exc)
        if result is None:  # it has just moved to a worker thread: the ASGI path runs it there
            return None
        return self._answer(result)

    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        """The http port past `fast_http`. A request for a (host, method, path) that already ran a
        function goes straight to it; everything else (first requests, websites, errors) is routed by
        starlette."""
        if scope["type"] == "http":
            raw_host, ready = self._ready_for(scope["headers"], scope["method"], scope["path"])
            if ready is not None:
                event = await _event_from_scope(scope, receive, raw_host)
                if event is None:  # the client went away before its body was complete
                    return
                status, headers, body = await self._call(ready, event, receive)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.routed(scope, receive, send)

    async def serve(self, request: Request) -> Response:
        raw_host = _host_header(request.scope["headers"])
        host = _normal_host(raw_host)
        method = request.method
        path = request.scope["path"]  # already percent-decoded by the server
        url = f"http://{host}{request.url.path}"
        generation = self.generation
        if not host:
            return PlainTextResponse(
                "no Host header: name the domain you ask for, e.g. curl -H 'Host: <fqdn>' ...",
                status_code=400,
            )
        try:
            table = await self.table(host)
        except ValueError as exc:
            return PlainTextResponse(f"bad Host header: {exc}", status_code=400)
        except DreamError as exc:
            return PlainTextResponse(f"cannot resolve {host}: {exc}", status_code=503)
        function, allowed = table.function(method, path)
        if function is not None:
            if not domain_allowed(host, function.project, self.config.universe):
                return PlainTextResponse(
                    f"domain {host} does not belong to project {function.project}", status_code=403
                )
            try:
                ready = await self.function(function)
            except WasmLoadError as exc:
                return PlainTextResponse(f"function {function.name} cannot load: {exc}", status_code=500)
            except DreamError as exc:
                return PlainTextResponse(str(exc), status_code=503)
            if generation == self.generation:
                self.ready[(host, method, path)] = ready
            event = await _event_from_scope(request.scope, request.receive, raw_host)
            if event is None:  # the client went away before its body was complete
                return Response(status_code=400)
            status, headers, body = await self._call(ready, event, request.receive)
            response = Response(body, status_code=status)
            response.raw_headers = headers
            return response
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

    async def _call(self, ready: ReadyFunction, request: HttpRequest, receive: Any) -> Answer:
        """Run the function: (status, raw headers, body); failures become 5xx. A call on a worker
        thread is stopped when its client goes away (`receive` answers `http.disconnect`)."""
        try:
            result = self.runner.run_inline(ready, request)
            if result is None:
                control = CallControl(time.monotonic() + ready.timeout)
                gone = asyncio.ensure_future(_stop_when_gone(receive, control))
                try:
                    result = await self.runner.run(ready, request, control)
                finally:
                    gone.cancel()
        except WasmCancelled as exc:
            self.log.info("%s", exc)
            return _failed(exc)
        except WasmError as exc:
            return _failed(exc)
        return self._answer(result)

    def _answer(self, result: HttpResponse) -> Answer:
        # No content-length: the HTTP server sets it (and drops framing headers a function adds).
        self.served += 1
        headers = [
            (key.encode("latin-1", "replace"), value.encode("latin-1", "replace"))
            for key, value in result.headers
        ]
        return result.status, headers, result.body

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
        except (DreamError, ValueError):
            return JSONResponse({"match": False, "warm": False})
        function, _ = table.function(method, path)
        site = table.website(method, path)
        warm = function is not None and function.id in self.warm
        return JSONResponse({"match": function is not None or site is not None, "warm": warm})


_HOSTS: dict[bytes, str] = {}  # Host header → normalised host (a few distinct values in practice)


def _host_header(headers: list[tuple[bytes, bytes]]) -> bytes:
    for key, value in headers:
        if key == b"host":
            return value
    return b""


def _normal_host(raw: bytes) -> str:
    """The Host header, lower-cased, without port or trailing dot."""
    host = _HOSTS.get(raw)
    if host is None:
        host = raw.decode("latin-1").split(":", 1)[0].lower().rstrip(".")
        if len(_HOSTS) < 4096:
            _HOSTS[raw] = host
    return host


async def _event_from_scope(scope: Any, receive: Any, raw_host: bytes) -> HttpRequest | None:
    """The request of an ASGI scope as the wasm host hands it to the guest (the body read whole); None
    when the client went away before its body was complete."""
    raw = scope["headers"]
    body = await read_body(receive, scope["method"], announces_body(raw))
    if body is None:
        return None
    return _event_of(scope["method"], scope["path"], scope["query_string"], raw, body, raw_host)


async def _stop_when_gone(receive: Any, control: CallControl) -> None:
    """Cancel the call once `receive` says the client is gone (a body not asked for comes first)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    control.cancel()


def _event_of(
    method: str, path: str, query: bytes, raw_headers: list[tuple[bytes, bytes]], body: bytes, raw_host: bytes
) -> HttpRequest:
    return HttpRequest(
        method=method,
        host=raw_host.decode("latin-1"),  # as received, port included
        path=path,
        query=parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else [],
        raw_headers=raw_headers,  # decoded only if the guest reads a header
        body=body,
    )


def _failed(exc: WasmError) -> Answer:
    if isinstance(exc, WasmTimeout):
        status = 504
    elif isinstance(exc, SubstrateBusy | WasmCancelled):  # a serving limit; a cancelled call's client is gone
        status = 503
    else:
        status = 500
    return _plain(status, str(exc))


def _plain(status: int, text: str) -> Answer:
    body = text.encode()
    return (
        status,
        [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        body,
    )
