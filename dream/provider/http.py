"""The provider's ASGI app: git smart HTTP at `/<owner>/<name>.git/...` and the REST slice at `/api/...`."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dream.provider.api import RestApi
from dream.provider.smart_http import http_backend
from dream.provider.store import RepositoryStore
from dream.provider.webhooks import Deliverer, RefUpdate

# What git clients ask for under a repository (smart protocol, plus dumb-protocol reads).
GIT_PATH = re.compile(r"^(info/refs|git-upload-pack|git-receive-pack|HEAD|objects/.+)$")


def basic_user(request: Request) -> str | None:
    """The user name of HTTP basic auth, if the client sent one (git does after a 401 only)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user = base64.b64decode(value, validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user or None


def request_base_url(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


def create_app(
    store: RepositoryStore,
    deliverer: Deliverer,
    *,
    hooks_dir: Path,
    base_url: Callable[[Request], str],
) -> Starlette:
    async def git_route(request: Request) -> Response:
        owner, name, rest = (request.path_params[key] for key in ("owner", "name", "rest"))
        if not GIT_PATH.match(rest):
            return PlainTextResponse("Not Found\n", status_code=404)
        repo = store.get_by_name(f"{owner}/{name.removesuffix('.git')}")
        if repo is None:
            # git prints "repository '<url>' not found" for a 404 on info/refs.
            return PlainTextResponse(f"Repository {owner}/{name} not found\n", status_code=404)
        path_info = f"/{repo.owner}/{repo.name}.git/{rest}"
        if not (request.method == "POST" and rest == "git-receive-pack"):
            return await http_backend(
                request, project_root=store.root, path_info=path_info, hooks_dir=hooks_dir
            )

        # A push: count it as in flight from now on, so waiting for deliveries cannot miss it.
        pusher = basic_user(request) or repo.owner
        url = base_url(request)
        deliverer.begin()
        ended = False

        def pushed(returncode: int | None, lines: str | None) -> None:
            nonlocal ended
            ended = True
            try:
                updates = RefUpdate.parse(lines or "")
                if updates:
                    deliverer.pushed(repo, updates, pusher, url)
            finally:
                deliverer.end()

        try:
            return await http_backend(
                request,
                project_root=store.root,
                path_info=path_info,
                hooks_dir=hooks_dir,
                on_exit=pushed,
                capture_pushes=True,
            )
        except BaseException:
            if not ended:
                deliverer.end()
            raise

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await deliverer.wait_idle(5.0)
        await deliverer.aclose()

    api = RestApi(store, base_url)
    routes = [
        *api.routes(),
        Route("/{owner}/{name}/{rest:path}", git_route, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
