"""Nodes of a universe: start one more service or simple, stop one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon.inputs import body
from dream.daemon.routes.context import api, multiverse, node_view, universe_of
from dream.daemon.universe import NodeRecord, Universe
from dream.shapes import ServiceShape, SimpleShape, check_service, check_simple_name


async def _stopped(request: Request, stop: Callable[[Universe], Awaitable[NodeRecord]]) -> Any:
    """Stop a node of the request's universe, under the universe's lock: {killed: the node}."""
    universe = universe_of(request)
    async with multiverse(request).lock(universe.name):
        record = await stop(universe)
    return {"killed": node_view(record)}


async def new_service(request: Request) -> Any:
    universe = universe_of(request)
    name = request.path_params["name"]
    check_service(name)
    shape = ServiceShape.from_api(name, (await body(request)).get("config"))
    async with multiverse(request).lock(universe.name):
        records = await universe.add_service(name, shape)
    multiverse(request).save_state()
    return {"nodes": [node_view(r) for r in records]}


async def kill_service(request: Request) -> Any:
    return await _stopped(request, lambda universe: universe.kill_service(request.path_params["name"]))


async def new_simple(request: Request) -> Any:
    universe = universe_of(request)
    name = request.path_params["name"]
    check_simple_name(name)
    config = (await body(request)).get("config")
    shape = SimpleShape.from_api(name, config) if config is not None else SimpleShape()
    async with multiverse(request).lock(universe.name):
        record = await universe.add_simple(name, shape)
    multiverse(request).save_state()
    return {"nodes": [node_view(record)]}


async def kill_simple(request: Request) -> Any:
    return await _stopped(request, lambda universe: universe.kill_simple(request.path_params["name"]))


async def kill_node(request: Request) -> Any:
    return await _stopped(
        request, lambda universe: universe.kill_node(request.path_params["name"], request.path_params["id"])
    )


def routes() -> list[Route]:
    return [
        Route("/service/{universe}/{name}", api(new_service), methods=["POST"]),
        Route("/service/{universe}/{name}", api(kill_service), methods=["DELETE"]),
        Route("/simple/{universe}/{name}", api(new_simple), methods=["POST"]),
        Route("/simple/{universe}/{name}", api(kill_simple), methods=["DELETE"]),
        Route("/node/{universe}/{name}/{id}", api(kill_node), methods=["DELETE"]),
    ]
