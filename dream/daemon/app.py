"""The daemon's REST API: upstream's routes and JSON shapes.

Every error is answered `{"code": <status>, "error": "<sentence>"}`: 400 for bad input (DreamError), 401/403
from the guard (Host, origin, token), 404 for an unknown route, 507 for a full disk, 500 for anything
unexpected (its traceback goes to the daemon's log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dream.api_token import ensure_token, token_path
from dream.daemon.actions import FIXTURES, FixtureContext, find
from dream.daemon.failures import DiskReserve, Failures
from dream.daemon.guard import DaemonGuard
from dream.daemon.inputs import body, flag, query_offset, text
from dream.daemon.multiverse import Multiverse
from dream.daemon.universe import NodeRecord, Universe
from dream.errors import DreamError, json_type
from dream.node.peers import PeerClient, PeerInfo
from dream.node.security import signed_path, verify
from dream.shapes import ServiceShape, Shape, SimpleShape, check_service, check_simple_name, load_shape
from dream.spec import CLIENTS, SERVICES

log = logging.getLogger("dream.daemon")
Handler = Callable[[Request], Awaitable[Any]]


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"code": status, "error": message}, status_code=status)


ANNOUNCE = ["registry", "peers", "announce"]


def registry_exempt(method: str, path: str) -> bool:
    """The universe registry's announce: nodes prove membership with the universe's HMAC instead."""
    parts = path.split("/")  # "", "universe", <universe>, "registry", "peers", "announce"
    return method == "POST" and len(parts) == 6 and parts[1] == "universe" and parts[3:] == ANNOUNCE


def peer_from_body(data: dict[str, Any]) -> PeerInfo:
    """A node's announce, checked field by field."""
    wanted: dict[str, tuple[type, str]] = {
        "id": (str, "a string"),
        "name": (str, "a string"),
        "kind": (str, "a string"),
        "index": (int, "a whole number"),
        "pid": (int, "a whole number"),
        "ports": (dict, "a JSON object"),
        "universe": (str, "a string"),
    }
    for name, (kind, described) in wanted.items():
        if name not in data:
            raise DreamError(f"announce: missing `{name}`")
        value = data[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise DreamError(f"announce: `{name}` must be {described}, got {json_type(value)}")
    for protocol, port in data["ports"].items():
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise DreamError(f"announce: port `{protocol}` must be a number 0-65535, got {json_type(port)}")
    if "registry" in data and not isinstance(data["registry"], bool):
        raise DreamError(f"announce: `registry` must be true or false, got {json_type(data['registry'])}")
    return PeerInfo.from_dict(data)


def build_app(multiverse: Multiverse, *, on_shutdown: Callable[[], None]) -> Starlette:
    """The API of `multiverse`, behind its guard; makes the home's token and disk reserve if missing."""
    token = ensure_token(multiverse.home)
    reserve = DiskReserve(multiverse.home)
    if not reserve.keep():
        log.warning("no room for the %s disk reserve in %s", reserve.size, multiverse.home)
    failures = Failures(multiverse.home, reserve)

    def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Turn a handler's return value into JSON and any failure into the `{code, error}` shape."""

        async def endpoint(request: Request) -> Response:
            reserve.retake()
            try:
                result = await handler(request)
            except Exception as exc:
                paths = getattr(request.state, "paths", ())
                status_code, sentence = failures.answer(exc, request.method, request.url.path, paths)
                return error(sentence, status_code)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        return endpoint

    def universe_of(request: Request) -> Universe:
        return multiverse.get(request.path_params["universe"])

    async def ping(request: Request) -> Any:
        return "pong"

    async def status(request: Request) -> Any:
        return {name: u.status() for name, u in multiverse.universes.items()}

    async def universes(request: Request) -> Any:
        found = {
            name: {
                "node-count": len(u.nodes),
                "state": u.state,
                "keep": u.keep,
                "id": u.id,
            }
            for name, u in multiverse.universes.items()
        }
        for name in multiverse.kept():
            found.setdefault(name, {"node-count": 0, "state": "stopped", "keep": True})
        return found

    async def graph(request: Request) -> Any:
        name = request.path_params["universe"]
        if name.lower() not in multiverse.universes:
            raise DreamError(f"universe `{name}` does not exist")
        return universe_of(request).graph()

    async def universe_id(request: Request) -> Any:
        return {"id": universe_of(request).id}

    async def new_universe(request: Request) -> Any:
        data = await body(request)
        config = data.get("config")
        shape_name = text(data, "shape")
        keep = flag(data, "keep")
        if shape_name:
            shape: Shape | None = load_shape(shape_name)
        elif config is not None:
            shape = Shape.from_api(config)
        else:
            shape = None
        universe = await multiverse.create(request.path_params["universe"], shape, keep=keep)
        return {"universe": universe.name, "id": universe.id, "nodes": len(universe.nodes)}

    async def delete_universe(request: Request) -> Any:
        await multiverse.destroy(request.path_params["universe"])
        return {"stopped": request.path_params["universe"].lower()}

    def node_view(record: NodeRecord) -> dict[str, Any]:
        return {
            "id": record.config.id,
            "name": record.config.name,
            "pid": record.pid,
            "ports": record.config.ports,
        }

    async def new_service(request: Request) -> Any:
        universe = universe_of(request)
        name = request.path_params["name"]
        check_service(name)
        shape = ServiceShape.from_api(name, (await body(request)).get("config"))
        async with multiverse.lock(universe.name):
            records = await universe.add_service(name, shape)
        multiverse.save_state()
        return {"nodes": [node_view(r) for r in records]}

    async def kill_service(request: Request) -> Any:
        universe = universe_of(request)
        async with multiverse.lock(universe.name):
            record = await universe.kill_service(request.path_params["name"])
        return {"killed": node_view(record)}

    async def new_simple(request: Request) -> Any:
        universe = universe_of(request)
        name = request.path_params["name"]
        check_simple_name(name)
        config = (await body(request)).get("config")
        shape = SimpleShape.from_api(name, config) if config is not None else SimpleShape()
        async with multiverse.lock(universe.name):
            record = await universe.add_simple(name, shape)
        multiverse.save_state()
        return {"nodes": [node_view(record)]}

    async def kill_simple(request: Request) -> Any:
        universe = universe_of(request)
        async with multiverse.lock(universe.name):
            record = await universe.kill_simple(request.path_params["name"])
        return {"killed": node_view(record)}

    async def kill_node(request: Request) -> Any:
        universe = universe_of(request)
        async with multiverse.lock(universe.name):
            record = await universe.kill_node(request.path_params["name"], request.path_params["id"])
        return {"killed": node_view(record)}

    async def fixture(request: Request) -> Any:
        universe = universe_of(request)
        data = await body(request)
        if "params" not in data:
            raise DreamError("missing `params` (a JSON list of strings, may be empty)")
        params = data["params"]
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise DreamError("`params` must be a JSON list of strings")
        chosen = find(request.path_params["name"])
        values = chosen.bind(params)
        result = await chosen.run(FixtureContext(multiverse, universe), values)
        return {"fixture": chosen.name, "result": result}

    async def spec_services(request: Request) -> Any:
        return list(SERVICES)

    async def spec_clients(request: Request) -> Any:
        return list(CLIENTS)

    async def spec_fixtures(request: Request) -> Any:
        return sorted(FIXTURES)

    async def logs(request: Request) -> Any:
        universe = universe_of(request)
        record = find_node(universe, request.path_params["node"])
        offset = query_offset(request)
        try:
            with open(record.config.log_path, "rb") as fh:
                # Past the end there is nothing to read (and a filesystem may refuse so far a seek).
                data = b""
                if offset < os.fstat(fh.fileno()).st_size:
                    fh.seek(offset)
                    data = fh.read(1 << 20)
        except FileNotFoundError:
            data = b""
        return {
            "node": record.config.label,
            "id": record.config.id,
            "path": str(record.config.log_path),
            "offset": offset + len(data),
            "text": data.decode(errors="replace"),
        }

    async def new_project(request: Request) -> Any:
        from pathlib import Path

        from dream import projects

        universe = universe_of(request)
        data = await body(request)
        needed = "a project needs a `name` and an absolute `path` for its working copies"
        name = text(data, "name", required=needed) or ""
        path = text(data, "path", required=needed) or ""
        template = text(data, "template", default="ping_pong") or "ping_pong"
        lang = text(data, "lang", default="go") or "go"
        owner = text(data, "owner", default="dream") or "dream"
        request.state.paths = [Path(path)]  # named if the disk turns out to be full
        async with _peers(universe) as peers:
            return await projects.create(
                peers,
                universe=universe.name,
                name=name,
                path=Path(path),
                template=template,
                lang=lang,
                owner=owner,
                state_dir=universe.root / "projects",
            )

    async def new_website(request: Request) -> Any:
        from dream import projects

        universe = universe_of(request)
        data = await body(request)
        site = text(data, "name", required="a website needs a `name`") or ""
        async with _peers(universe) as peers:
            return await projects.add_website(
                peers,
                project=request.path_params["name"],
                site=site,
                state_dir=universe.root / "projects",
            )

    async def new_library(request: Request) -> Any:
        from dream import projects

        universe = universe_of(request)
        data = await body(request)
        library = text(data, "name", required="a library needs a `name`") or ""
        lang = text(data, "lang", default="go") or "go"
        async with _peers(universe) as peers:
            return await projects.add_library(
                peers,
                project=request.path_params["name"],
                library=library,
                lang=lang,
                state_dir=universe.root / "projects",
            )

    async def list_projects(request: Request) -> Any:
        universe = universe_of(request)
        async with _peers(universe) as peers:
            return await peers.json("auth", "GET", "/auth/projects")

    async def show_project(request: Request) -> Any:
        from dream import projects

        universe = universe_of(request)
        wanted = request.path_params["name"]
        async with _peers(universe) as peers:
            found = (await peers.json("auth", "GET", "/auth/projects"))["projects"]
            match = [p for p in found if wanted in (p["name"], p["id"])]
            if not match:
                names = ", ".join(sorted(p["name"] for p in found)) or "none yet"
                raise DreamError(f"no project `{wanted}` in universe `{universe.name}` (projects: {names})")
            return await projects.describe(
                peers, match[0], branch=multiverse.branches[0], state_dir=universe.root / "projects"
            )

    async def shutdown(request: Request) -> Any:
        asyncio.get_running_loop().call_later(0.05, on_shutdown)
        return {"stopping": True, "pid": os.getpid()}

    async def registry_announce(request: Request) -> Response:
        universe = universe_of(request)
        raw = await request.body()
        status_code, reason = verify(
            bytes.fromhex(universe.key),
            request.method,
            signed_path(request.scope),
            dict(request.headers),
            raw,
        )
        if status_code:
            log.warning("refused announce to universe %s: %s", universe.name, reason)
            return error(reason, status_code)
        try:
            data = await body(request)
            universe.registry.announce(peer_from_body(data))
        except DreamError as exc:
            return error(str(exc))
        return JSONResponse({"ok": True})

    async def registry_peers(request: Request) -> Response:
        universe = universe_of(request)
        status_code, reason = verify(
            bytes.fromhex(universe.key),
            request.method,
            signed_path(request.scope),
            dict(request.headers),
            b"",
        )
        if status_code:
            return error(reason, status_code)
        name = request.query_params.get("name")
        return JSONResponse({"peers": [p.public() for p in universe.registry.peers(name)]})

    routes = [
        Route("/", api(ping)),
        Route("/ping", api(ping)),
        Route("/status", api(status)),
        Route("/universes", api(universes)),
        Route("/les/miserables/{universe}", api(graph)),
        Route("/id/{universe}", api(universe_id)),
        Route("/universe/{universe}", api(new_universe), methods=["POST"]),
        Route("/universe/{universe}", api(delete_universe), methods=["DELETE"]),
        Route("/service/{universe}/{name}", api(new_service), methods=["POST"]),
        Route("/service/{universe}/{name}", api(kill_service), methods=["DELETE"]),
        Route("/simple/{universe}/{name}", api(new_simple), methods=["POST"]),
        Route("/simple/{universe}/{name}", api(kill_simple), methods=["DELETE"]),
        Route("/node/{universe}/{name}/{id}", api(kill_node), methods=["DELETE"]),
        Route("/fixture/{universe}/{name}", api(fixture), methods=["POST"]),
        Route("/spec/services", api(spec_services)),
        Route("/spec/clients", api(spec_clients)),
        Route("/spec/fixtures", api(spec_fixtures)),
        Route("/logs/{universe}/{node}", api(logs)),
        Route("/project/{universe}", api(new_project), methods=["POST"]),
        Route("/projects/{universe}", api(list_projects)),
        Route("/project/{universe}/{name}/website", api(new_website), methods=["POST"]),
        Route("/project/{universe}/{name}/library", api(new_library), methods=["POST"]),
        Route("/project/{universe}/{name}", api(show_project)),
        Route("/multiverse", api(shutdown), methods=["DELETE"]),
        Route("/universe/{universe}/registry/peers/announce", api(registry_announce), methods=["POST"]),
        Route("/universe/{universe}/registry/peers", api(registry_peers)),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(f"no route {request.method} {request.url.path}", 404)

    async def failed(request: Request, exc: Exception) -> Response:
        # Outside a route (a middleware, the router): still the API's shape, never a bare text/plain 500.
        status_code, sentence = failures.answer(exc, request.method, request.url.path)
        return error(sentence, status_code)

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                DaemonGuard,
                port=multiverse.port,
                token=token,
                token_file=token_path(multiverse.home),
                exempt=registry_exempt,
            )
        ],
        exception_handlers={404: not_found, 405: not_found, Exception: failed},
    )


@contextlib.asynccontextmanager
async def _peers(universe: Universe) -> AsyncIterator[PeerClient]:
    client = universe.peer_client()
    try:
        yield client
    finally:
        await client.close()


def find_node(universe: Universe, wanted: str) -> NodeRecord:
    """A node by id, `name`, `name-<index>` or `name@universe`."""
    wanted = wanted.split("@", 1)[0]
    for record in universe.nodes.values():
        if wanted in (record.config.id, record.config.dirname):
            return record
    matches = sorted(
        (r for r in universe.nodes.values() if r.config.name == wanted), key=lambda r: r.config.index
    )
    if matches:
        return matches[0]
    names = ", ".join(sorted({r.config.name for r in universe.nodes.values()}))
    raise DreamError(f"no node `{wanted}` in universe `{universe.name}` (nodes: {names})")
