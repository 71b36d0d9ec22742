"""The multiverse as a whole: ping, status of every universe, the list of universes, shutdown."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon.routes.context import api, daemon, multiverse


async def ping(request: Request) -> Any:
    return "pong"


async def status(request: Request) -> Any:
    return {name: u.status() for name, u in multiverse(request).universes.items()}


async def universes(request: Request) -> Any:
    found = multiverse(request)
    listed = {
        name: {
            "node-count": len(u.nodes),
            "state": u.state,
            "keep": u.keep,
            "id": u.id,
        }
        for name, u in found.universes.items()
    }
    for name in found.kept():
        listed.setdefault(name, {"node-count": 0, "state": "stopped", "keep": True})
    return listed


async def shutdown(request: Request) -> Any:
    asyncio.get_running_loop().call_later(0.05, daemon(request).on_shutdown)
    return {"stopping": True, "pid": os.getpid()}


def routes() -> list[Route]:
    return [
        Route("/", api(ping)),
        Route("/ping", api(ping)),
        Route("/status", api(status)),
        Route("/universes", api(universes)),
        Route("/multiverse", api(shutdown), methods=["DELETE"]),
    ]
