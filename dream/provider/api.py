"""A small slice of GitHub's REST API (repositories and their webhooks), JSON shapes kept alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dream.provider.payload import node_id
from dream.provider.store import Delivery, Hook, ProviderError, Repository, RepositoryStore

OWNER_HEADER = "X-Dream-Owner"
DOCS = "https://docs.github.com/rest"


def iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def not_found() -> JSONResponse:
    return JSONResponse({"message": "Not Found", "documentation_url": DOCS, "status": "404"}, status_code=404)


def invalid(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse(
        {"message": message, "documentation_url": DOCS, "status": str(status)}, status_code=status
    )


def repo_json(repo: Repository, base_url: str) -> dict[str, Any]:
    api = f"{base_url}/api/repos/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "owner": {
            "login": repo.owner,
            "id": repo.owner_id,
            "node_id": node_id("User", repo.owner_id),
            "type": "User",
            "html_url": f"{base_url}/{repo.owner}",
        },
        "html_url": repo.html_url(base_url),
        "description": None,
        "fork": False,
        "url": api,
        "hooks_url": f"{api}/hooks",
        "clone_url": repo.clone_url(base_url),
        "ssh_url": repo.clone_url(base_url),  # the only clonable address in dream (see payload.py)
        "git_url": repo.clone_url(base_url),
        "default_branch": repo.default_branch,
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.pushed_at or repo.created_at),
        "pushed_at": iso(repo.pushed_at),
    }


def hook_json(hook: Hook, repo: Repository, base_url: str, last: Delivery | None) -> dict[str, Any]:
    api = f"{base_url}/api/repos/{repo.full_name}/hooks/{hook.id}"
    config: dict[str, str] = {"content_type": hook.content_type, "insecure_ssl": "0", "url": hook.url}
    if hook.secret:
        config["secret"] = "********"  # GitHub never shows a secret back
    return {
        "type": "Repository",
        "id": hook.id,
        "name": "web",
        "active": hook.active,
        "events": hook.events,
        "config": config,
        "created_at": iso(hook.created_at),
        "updated_at": iso(hook.created_at),
        "url": api,
        "deliveries_url": f"{api}/deliveries",
        "last_response": {
            "code": last.status_code if last else None,
            "status": ("active" if last.ok else "failed") if last else "unused",
            "message": (last.error or "OK") if last else None,
        },
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": iso(delivery.delivered_at),
        "redelivery": False,
        "duration": round((delivery.duration_ms or 0.0) / 1000, 3),
        "status": "OK" if delivery.ok else (delivery.error or f"HTTP {delivery.status_code}"),
        "status_code": delivery.status_code or 0,
        "event": delivery.event,
        "action": None,
        "installation_id": None,
        "repository_id": delivery.repo_id,
        "attempts": delivery.attempts,
    }


async def json_body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class RestApi:
    def __init__(self, store: RepositoryStore, base_url: Callable[[Request], str]) -> None:
        self.store = store
        self.base_url = base_url

    def routes(self) -> list[BaseRoute]:
        repo = "/api/repos/{owner}/{name}"
        return [
            Route("/api/repositories/{repo_id:int}", self.get_by_id, methods=["GET"]),
            Route("/api/user/repos", self.create, methods=["POST"]),
            Route(repo, self.get_repo, methods=["GET"]),
            Route(repo, self.delete_repo, methods=["DELETE"]),
            Route(f"{repo}/hooks", self.list_hooks, methods=["GET"]),
            Route(f"{repo}/hooks", self.create_hook, methods=["POST"]),
            Route(repo + "/hooks/{hook_id:int}", self.delete_hook, methods=["DELETE"]),
            Route(repo + "/hooks/{hook_id:int}/deliveries", self.list_deliveries, methods=["GET"]),
        ]

    def _repo(self, request: Request) -> Repository | None:
        params = request.path_params
        return self.store.get_by_name(f"{params['owner']}/{params['name']}")

    async def get_by_id(self, request: Request) -> Response:
        repo = self.store.get(request.path_params["repo_id"])
        return JSONResponse(repo_json(repo, self.base_url(request))) if repo else not_found()

    async def get_repo(self, request: Request) -> Response:
        repo = self._repo(request)
        return JSONResponse(repo_json(repo, self.base_url(request))) if repo else not_found()

    async def delete_repo(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return not_found()
        self.store.delete(repo.id)
        return Response(status_code=204)

    async def create(self, request: Request) -> Response:
        body = await json_body(request)
        if body is None:
            return invalid('the request body is not a JSON object; send {"name": "..."}', 400)
        owner = request.headers.get(OWNER_HEADER) or request.query_params.get("owner")
        if not owner:
            return invalid(f"say who owns the new repository with the {OWNER_HEADER} header or ?owner=")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return invalid("the repository needs a `name` (a string) in the JSON body")
        try:
            repo = self.store.create(owner, name, private=bool(body.get("private", False)))
        except ProviderError as error:
            return invalid(str(error))
        return JSONResponse(repo_json(repo, self.base_url(request)), status_code=201)

    async def list_hooks(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return not_found()
        deliveries = self.store.deliveries(repo.id)
        base = self.base_url(request)
        out = []
        for hook in self.store.hooks(repo.id):
            mine = [d for d in deliveries if d.hook_id == hook.id]
            out.append(hook_json(hook, repo, base, mine[-1] if mine else None))
        return JSONResponse(out)

    async def create_hook(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return not_found()
        body = await json_body(request)
        if body is None:
            return invalid('the request body is not a JSON object; send {"config": {"url": ...}}', 400)
        # GitHub's shape is {config: {url, secret, content_type}, events}; a flat {url, secret} is
        # accepted too for convenience.
        config = body.get("config") if isinstance(body.get("config"), dict) else body
        events = body.get("events") or ["push"]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            return invalid('`events` must be a list of event names such as ["push"]')
        try:
            hook = self.store.add_hook(
                repo.id,
                str(config.get("url", "")),
                str(config.get("secret", "")),
                content_type=str(config.get("content_type", "json")),
                events=tuple(events),
            )
        except ProviderError as error:
            return invalid(str(error))
        return JSONResponse(hook_json(hook, repo, self.base_url(request), None), status_code=201)

    async def delete_hook(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo is None:
            return not_found()
        try:
            self.store.remove_hook(repo.id, request.path_params["hook_id"])
        except ProviderError:
            return not_found()
        return Response(status_code=204)

    async def list_deliveries(self, request: Request) -> Response:
        repo = self._repo(request)
        hook_id = request.path_params["hook_id"]
        if repo is None or hook_id not in {h.id for h in self.store.hooks(repo.id)}:
            return not_found()
        found = [d for d in self.store.deliveries(repo.id) if d.hook_id == hook_id]
        return JSONResponse([delivery_json(d) for d in reversed(found)])
