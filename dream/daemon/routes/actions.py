"""Run one of the daemon's injectable actions in a universe (upstream's `POST /fixture/{u}/{name}`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon.actions import FixtureContext, find
from dream.daemon.inputs import body
from dream.daemon.routes.context import api, multiverse, universe_of
from dream.errors import DreamError


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
    result = await chosen.run(FixtureContext(multiverse(request), universe), values)
    return {"fixture": chosen.name, "result": result}


def routes() -> list[Route]:
    return [Route("/fixture/{universe}/{name}", api(fixture), methods=["POST"])]
