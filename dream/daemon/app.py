"""The daemon's REST API: upstream's routes and JSON shapes (errors are HTTP 400 `{code, error}`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dream.daemon.multiverse import Multiverse
from dream.daemon.universe import NodeRecord, Universe
from dream.errors import DreamError
from dream.fixtures import FIXTURES, FixtureContext, find
from dream.node.peers import PeerClient, PeerInfo
from dream.node.security import verify
from dream.shapes import ServiceShape, Shape, SimpleShape, check_service, load_shape
from dream.spec import CLIENTS, SERVICES

log = logging.getLogger("dream.daemon")
Handler = Callable[[Request], Awaitable[Any]]


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"code": status, "error": message}, status_code=status)


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Turn a handler's return value into JSON and its DreamError into upstream's 400 reply."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except DreamError as exc:
            return error(str(exc))
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return endpoint


async def body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise DreamError("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise DreamError("request body must be a JSON object")
    return data


def build_app(multiverse: Multiverse, *, on_shutdown: Callable[[], None]) -> Starlette:
    def universe_of(request: Request) -> Universe:
        return multiverse.get(request.path_params["universe"])

    async def ping(request: Request) -> Any:
        return "pong"

    async def status(request: Request) -> Any:
        return {name: u.status() for name, u in multiverse.universes.items()}

    async def universes(request: Request) -> Any:
        found = {
            name: {
                "swarm-key": u.swarm_key,
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
        if data.get("shape"):
            shape: Shape | None = load_shape(str(data["shape"]))
        elif config:
            shape = Shape.from_api(config)
        else:
            shape = None
        universe = await multiverse.create(
            request.path_params["universe"], shape, keep=bool(data.get("keep"))
        )
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
        offset = int(request.query_params.get("offset", "0") or 0)
        try:
            with open(record.config.log_path, "rb") as fh:
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
        if not data.get("name") or not data.get("path"):
            raise DreamError("a project needs a `name` and an absolute `path` for its working copies")
        async with _peers(universe) as peers:
            return await projects.create(
                peers,
                universe=universe.name,
                name=str(data["name"]),
                path=Path(str(data["path"])),
                template=str(data.get("template") or "ping_pong"),
                lang=str(data.get("lang") or "go"),
                owner=str(data.get("owner") or "dream"),
                state_dir=universe.root / "projects",
            )

    async def new_website(request: Request) -> Any:
        from dream import projects

        universe = universe_of(request)
        data = await body(request)
        if not data.get("name"):
            raise DreamError("a website needs a `name`")
        async with _peers(universe) as peers:
            return await projects.add_website(
                peers,
                project=request.path_params["name"],
                site=str(data["name"]),
                state_dir=universe.root / "projects",
            )

    async def new_library(request: Request) -> Any:
        from dream import projects

        universe = universe_of(request)
        data = await body(request)
        if not data.get("name"):
            raise DreamError("a library needs a `name`")
        async with _peers(universe) as peers:
            return await projects.add_library(
                peers,
                project=request.path_params["name"],
                library=str(data["name"]),
                lang=str(data.get("lang") or "go"),
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
            bytes.fromhex(universe.key), request.method, request.url.path, dict(request.headers), raw
        )
        if status_code:
            log.warning("refused announce to universe %s: %s", universe.name, reason)
            return error(reason, status_code)
        universe.registry.announce(PeerInfo.from_dict(await request.json()))
        return JSONResponse({"ok": True})

    async def registry_peers(request: Request) -> Response:
        universe = universe_of(request)
        status_code, reason = verify(
            bytes.fromhex(universe.key), request.method, request.url.path, dict(request.headers), b""
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

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(CORSMiddleware, allow_origin_regex=".*", allow_methods=["*"], allow_headers=["*"])
        ],
        exception_handlers={404: not_found, 405: not_found},
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
