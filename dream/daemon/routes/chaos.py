"""Chaos in a universe's nodes: kill, pause, latency and failures on a port, for a while (`dream chaos`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon import chaos
from dream.daemon.inputs import body
from dream.daemon.routes.context import api, universe_of
from dream.daemon.routes.logs import find_node
from dream.errors import DreamError
from dream.node.chaos import FAIL_STATUS


def _number(data: dict[str, Any], name: str, default: float | None = None) -> float:
    value = data.get(name, default)
    if value is None:
        raise DreamError(f"missing `{name}` (a number of seconds)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DreamError(f"`{name}` must be a number, not {value!r}")
    return float(value)


async def kill(request: Request) -> Any:
    universe = universe_of(request)
    return chaos.kill(find_node(universe, request.path_params["node"]))


async def pause(request: Request) -> Any:
    universe = universe_of(request)
    data = await body(request)
    record = find_node(universe, request.path_params["node"])
    return chaos.pause(universe, record, _number(data, "seconds"))


async def resume(request: Request) -> Any:
    universe = universe_of(request)
    return chaos.resume(universe, find_node(universe, request.path_params["node"]))


async def fault(request: Request) -> Any:
    universe = universe_of(request)
    data = await body(request)
    record = find_node(universe, request.path_params["node"])
    status = data.get("status", FAIL_STATUS)
    if isinstance(status, bool) or not isinstance(status, int):
        raise DreamError(f"`status` must be a 5xx status number, not {status!r}")
    faults = await chaos.fault(
        universe,
        record,
        port=str(data.get("port") or "auto"),
        delay=_number(data, "delay", 0.0),
        rate=_number(data, "rate", 0.0),
        seconds=_number(data, "seconds"),
        status=status,
    )
    return {"node": record.config.label, "faults": faults}


async def clear(request: Request) -> Any:
    universe = universe_of(request)
    return await chaos.clear(universe, find_node(universe, request.path_params["node"]))


async def active(request: Request) -> Any:
    return chaos.active(universe_of(request))


def routes() -> list[Route]:
    return [
        Route("/chaos/{universe}", api(active)),
        Route("/chaos/{universe}/{node}", api(clear), methods=["DELETE"]),
        Route("/chaos/{universe}/{node}/kill", api(kill), methods=["POST"]),
        Route("/chaos/{universe}/{node}/pause", api(pause), methods=["POST"]),
        Route("/chaos/{universe}/{node}/resume", api(resume), methods=["POST"]),
        Route("/chaos/{universe}/{node}/fault", api(fault), methods=["POST"]),
    ]
