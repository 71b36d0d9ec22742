"""One universe: create, stop, its graph of nodes and its id."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon.inputs import body, flag, text
from dream.daemon.routes.context import api, multiverse, universe_of
from dream.errors import DreamError
from dream.shapes import Shape, load_shape


async def graph(request: Request) -> Any:
    name = request.path_params["universe"]
    if name.lower() not in multiverse(request).universes:
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
    universe = await multiverse(request).create(request.path_params["universe"], shape, keep=keep)
    return {"universe": universe.name, "id": universe.id, "nodes": len(universe.nodes)}


async def delete_universe(request: Request) -> Any:
    await multiverse(request).destroy(request.path_params["universe"])
    return {"stopped": request.path_params["universe"].lower()}


def routes() -> list[Route]:
    return [
        Route("/les/miserables/{universe}", api(graph)),
        Route("/id/{universe}", api(universe_id)),
        Route("/universe/{universe}", api(new_universe), methods=["POST"]),
        Route("/universe/{universe}", api(delete_universe), methods=["DELETE"]),
    ]
