"""Projects of a universe: create one (with websites and libraries), list them, describe one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream import projects
from dream.clients.auth import AuthClient
from dream.daemon.inputs import body, text
from dream.daemon.routes.context import api, multiverse, peers_of, universe_of
from dream.errors import DreamError


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
    async with peers_of(universe) as peers:
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


# What a project may be given after it is made: (the function adding it, the name of its name argument).
ATTACHED: dict[str, tuple[Callable[..., Awaitable[Any]], str]] = {
    "website": (projects.add_website, "site"),
    "library": (projects.add_library, "library"),
}


async def _attach(request: Request, kind: str, **options: str) -> Any:
    universe = universe_of(request)
    add, named = ATTACHED[kind]
    name = text(await body(request), "name", required=f"a {kind} needs a `name`") or ""
    async with peers_of(universe) as peers:
        return await add(
            peers,
            project=request.path_params["name"],
            state_dir=universe.root / "projects",
            **{named: name},
            **options,
        )


async def new_website(request: Request) -> Any:
    return await _attach(request, "website")


async def new_library(request: Request) -> Any:
    lang = text(await body(request), "lang", default="go") or "go"
    return await _attach(request, "library", lang=lang)


async def list_projects(request: Request) -> Any:
    universe = universe_of(request)
    async with peers_of(universe) as peers:
        return {"projects": await AuthClient(peers).projects()}


async def show_project(request: Request) -> Any:
    universe = universe_of(request)
    wanted = request.path_params["name"]
    async with peers_of(universe) as peers:
        found = await AuthClient(peers).projects()
        match = [p for p in found if wanted in (p["name"], p["id"])]
        if not match:
            names = ", ".join(sorted(p["name"] for p in found)) or "none yet"
            raise DreamError(f"no project `{wanted}` in universe `{universe.name}` (projects: {names})")
        return await projects.describe(
            peers, match[0], branch=multiverse(request).branches[0], state_dir=universe.root / "projects"
        )


def routes() -> list[Route]:
    return [
        Route("/project/{universe}", api(new_project), methods=["POST"]),
        Route("/projects/{universe}", api(list_projects)),
        Route("/project/{universe}/{name}/website", api(new_website), methods=["POST"]),
        Route("/project/{universe}/{name}/library", api(new_library), methods=["POST"]),
        Route("/project/{universe}/{name}", api(show_project)),
    ]
