"""Projects of a universe: create one (with websites and libraries), list them, describe one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream import projects
from dream.clients.auth import AuthClient
from dream.daemon.inputs import body, text
from dream.daemon.routes.context import api, multiverse, universe_of
from dream.daemon.universe import Universe
from dream.errors import DreamError
from dream.node.peers import PeerClient


async def new_project(request: Request) -> Any:
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
        return {"projects": await AuthClient(peers).projects()}


async def show_project(request: Request) -> Any:
    universe = universe_of(request)
    wanted = request.path_params["name"]
    async with _peers(universe) as peers:
        found = await AuthClient(peers).projects()
        match = [p for p in found if wanted in (p["name"], p["id"])]
        if not match:
            names = ", ".join(sorted(p["name"] for p in found)) or "none yet"
            raise DreamError(f"no project `{wanted}` in universe `{universe.name}` (projects: {names})")
        return await projects.describe(
            peers, match[0], branch=multiverse(request).branches[0], state_dir=universe.root / "projects"
        )


@contextlib.asynccontextmanager
async def _peers(universe: Universe) -> AsyncIterator[PeerClient]:
    client = universe.peer_client()
    try:
        yield client
    finally:
        await client.close()


def routes() -> list[Route]:
    return [
        Route("/project/{universe}", api(new_project), methods=["POST"]),
        Route("/projects/{universe}", api(list_projects)),
        Route("/project/{universe}/{name}/website", api(new_website), methods=["POST"]),
        Route("/project/{universe}/{name}/library", api(new_library), methods=["POST"]),
        Route("/project/{universe}/{name}", api(show_project)),
    ]
