"""Snapshots of universes: save one, list them, remove one, and start a universe from one."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon import snapshots
from dream.daemon.inputs import body, flag, text
from dream.daemon.routes.context import api, multiverse
from dream.errors import DreamError


async def save(request: Request) -> Any:
    data = await body(request)
    found = multiverse(request)
    universe = found.get(text(data, "universe", required="say which `universe` to snapshot") or "")
    name = snapshots.check_name(request.path_params["name"])
    async with found.lock(universe.name):  # not while it is being stopped or started
        return await asyncio.to_thread(snapshots.save, universe, found.home, name)


async def load(request: Request) -> Any:
    data = await body(request)
    found = multiverse(request)
    as_name = text(data, "as", required="say which universe to start from it: `as`") or ""
    only = data.get("only") or []
    if not isinstance(only, list) or not all(isinstance(n, str) for n in only):
        raise DreamError('`only` must be a list of service and simple names, e.g. ["substrate", "tns"]')
    return await snapshots.load(
        found, found.home, request.path_params["name"], as_name, keep=flag(data, "keep"), only=only
    )


async def listing(request: Request) -> Any:
    return {"snapshots": await asyncio.to_thread(snapshots.listing, multiverse(request).home)}


async def remove(request: Request) -> Any:
    return snapshots.remove(multiverse(request).home, request.path_params["name"])


def routes() -> list[Route]:
    return [
        Route("/snapshots", api(listing)),
        Route("/snapshot/{name}", api(save), methods=["POST"]),
        Route("/snapshot/{name}", api(remove), methods=["DELETE"]),
        Route("/snapshot/{name}/load", api(load), methods=["POST"]),
    ]
