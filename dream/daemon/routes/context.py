"""What every route handler shares: the daemon's state (kept on the app) and the answer shapes.

Handlers are plain `async def handler(request) -> Any`; `api` turns their return value into JSON and any
failure into `{"code": <status>, "error": "<sentence>"}`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dream.daemon.failures import DiskReserve, Failures
from dream.daemon.multiverse import Multiverse
from dream.daemon.universe import NodeRecord, Universe
from dream.node.peers import PeerClient

Handler = Callable[[Request], Awaitable[Any]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Daemon:
    """The daemon behind the API: set once on `app.state.daemon` when the app is built."""

    multiverse: Multiverse
    failures: Failures
    reserve: DiskReserve
    on_shutdown: Callable[[], None]


def daemon(request: Request) -> Daemon:
    found: Daemon = request.app.state.daemon
    return found


def multiverse(request: Request) -> Multiverse:
    return daemon(request).multiverse


def universe_of(request: Request) -> Universe:
    return multiverse(request).get(request.path_params["universe"])


@contextlib.asynccontextmanager
async def peers_of(universe: Universe) -> AsyncIterator[PeerClient]:
    """A client of the universe's nodes for one request, closed after it."""
    client = universe.peer_client()
    try:
        yield client
    finally:
        await client.close()


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"code": status, "error": message}, status_code=status)


def api(handler: Handler) -> Endpoint:
    """Turn a handler's return value into JSON and any failure into the `{code, error}` shape."""

    async def endpoint(request: Request) -> Response:
        state = daemon(request)
        state.reserve.retake()
        try:
            result = await handler(request)
        except Exception as exc:
            paths = getattr(request.state, "paths", ())
            status_code, sentence = state.failures.answer(exc, request.method, request.url.path, paths)
            return error(sentence, status_code)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return endpoint


def node_view(record: NodeRecord) -> dict[str, Any]:
    return {
        "id": record.config.id,
        "name": record.config.name,
        "pid": record.pid,
        "ports": record.config.ports,
    }
