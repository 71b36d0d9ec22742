"""The daemon's REST API: upstream's routes and JSON shapes, assembled from one router per area
(`dream/daemon/routes/`) behind the guard.

Every error is answered `{"code": <status>, "error": "<sentence>"}`: 400 for bad input (DreamError), 401/403
from the guard (Host, origin, token), 404 for an unknown route, 507 for a full disk, 500 for anything
unexpected (its traceback goes to the daemon's log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from dream.api_token import ensure_token, token_path
from dream.daemon.console.session import session_value
from dream.daemon.failures import DiskReserve, Failures
from dream.daemon.guard import DaemonGuard
from dream.daemon.multiverse import Multiverse
from dream.daemon.routes import (
    actions,
    chaos,
    console,
    data,
    inspect,
    jobs,
    logs,
    mcp,
    nodes,
    projects,
    pubsub,
    registry,
    snapshots,
    spec,
    universes,
    working_copy,
)
from dream.daemon.routes import multiverse as multiverse_routes
from dream.daemon.routes.context import Daemon, error

log = logging.getLogger("dream.daemon")

# The console first: its `/` serves browsers the dashboard (and API clients upstream's "pong").
ROUTERS = (
    console,
    multiverse_routes,
    universes,
    nodes,
    actions,
    spec,
    logs,
    projects,
    registry,
    data,
    pubsub,
    inspect,
    jobs,
    mcp,
    working_copy,
    chaos,
    snapshots,
)


def build_app(multiverse: Multiverse, *, on_shutdown: Callable[[], None]) -> Starlette:
    """The API of `multiverse`, behind its guard; makes the home's token and disk reserve if missing."""
    token = ensure_token(multiverse.home)
    reserve = DiskReserve(multiverse.home)
    if not reserve.keep():
        log.warning("no room for the %s disk reserve in %s", reserve.size, multiverse.home)
    failures = Failures(multiverse.home, reserve)
    data.clear_spool(multiverse.home)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(f"no route {request.method} {request.url.path}", 404)

    async def failed(request: Request, exc: Exception) -> Response:
        # Outside a route (a middleware, the router): still the API's shape, never a bare text/plain 500.
        status_code, sentence = failures.answer(exc, request.method, request.url.path)
        return error(sentence, status_code)

    routes: list[BaseRoute] = [route for router in ROUTERS for route in router.routes()]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                DaemonGuard,
                port=multiverse.port,
                token=token,
                token_file=token_path(multiverse.home),
                exempt=registry.registry_exempt,
            )
        ],
        exception_handlers={404: not_found, 405: not_found, Exception: failed},
    )
    app.state.daemon = Daemon(multiverse, failures, reserve, on_shutdown)
    app.state.console_session = session_value(token)  # the dashboard's cookie (console/session.py)
    return app
