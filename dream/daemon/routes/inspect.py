"""The request inspector: the last requests a universe's substrates and gateways served."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon.inspector import gather
from dream.daemon.routes.context import api, universe_of
from dream.errors import DreamError

# Most records one answer holds (each node keeps its own ring: `dream.http.records.INSPECT_RING`).
MAX_LIMIT = 1000


def _since(request: Request) -> float:
    raw = request.query_params.get("since", "") or "0"
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise DreamError(f"`since` must be a time in seconds since the epoch (0 or more), got {raw!r}")
    return value


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "") or "200"
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 1 <= value <= MAX_LIMIT:
        raise DreamError(f"`limit` must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return value


async def inspect(request: Request) -> Any:
    universe = universe_of(request)
    return await gather(
        universe,
        since=_since(request),
        function=request.query_params.get("function", ""),
        limit=_limit(request),
    )


def routes() -> list[Route]:
    return [Route("/inspect/{universe}", api(inspect))]
