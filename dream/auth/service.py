"""auth: repositories (deploy keys, webhook secrets), projects and domain registrations; durable.

p2p API:
  POST   /auth/repositories        {id, fullname, url?, project?} → repository (with hook id + secret, deploy key)
  GET    /auth/repositories        → {repositories}
  GET    /auth/repositories/{id}   → repository
  DELETE /auth/repositories/{id}
  POST   /auth/projects            {id, name, config, code} → project
  GET    /auth/projects            → {projects};  GET /auth/projects/{id}
  GET    /auth/hooks/{hook}        → {id, provider, secret, repository}
  POST   /auth/domains             {fqdn, project} → registration;  GET /auth/domains/{fqdn}
HTTP (read-only, secrets left out): /projects, /projects/{id}, /repositories, /repository/github/{id}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dream.auth.store import AuthStore
from dream.errors import DreamError
from dream.node import Node


def answer(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        try:
            result = await handler(request)
        except (DreamError, KeyError, ValueError) as exc:
            message = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            return JSONResponse({"code": 400, "error": message}, status_code=400)
        if result is None:
            return JSONResponse({"code": 404, "error": f"not found: {request.url.path}"}, status_code=404)
        return JSONResponse(result)

    return endpoint


def public(repository: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in repository.items() if k not in ("key", "hook")}


class Service(Node):
    async def on_start(self) -> None:
        self.auth = AuthStore(self.store)

    def p2p_routes(self) -> list[BaseRoute]:
        a = self.auth_routes
        return [
            Route("/auth/repositories", answer(a.register), methods=["POST"]),
            Route("/auth/repositories", answer(a.repositories), methods=["GET"]),
            Route("/auth/repositories/{id}", answer(a.repository), methods=["GET"]),
            Route("/auth/repositories/{id}", answer(a.unregister), methods=["DELETE"]),
            Route("/auth/projects", answer(a.create_project), methods=["POST"]),
            Route("/auth/projects", answer(a.projects), methods=["GET"]),
            Route("/auth/projects/{id}", answer(a.project), methods=["GET"]),
            Route("/auth/hooks/{hook}", answer(a.hook), methods=["GET"]),
            Route("/auth/domains", answer(a.register_domain), methods=["POST"]),
            Route("/auth/domains/{fqdn}", answer(a.domain), methods=["GET"]),
        ]

    def http_routes(self) -> list[BaseRoute]:
        a = self.auth_routes

        async def repositories(request: Request) -> Any:
            return {"repositories": [public(r) for r in self.auth.repositories()]}

        async def repository(request: Request) -> Any:
            found = self.auth.repository(request.path_params["id"])
            return public(found) if found else None

        return [
            Route("/projects", answer(a.projects)),
            Route("/projects/{id}", answer(a.project)),
            Route("/repositories", answer(repositories)),
            Route("/repository/github/{id}", answer(repository)),
        ]

    @property
    def auth_routes(self) -> _Handlers:
        return _Handlers(self)


class _Handlers:
    def __init__(self, node: Service) -> None:
        self.node = node

    @property
    def auth(self) -> AuthStore:
        return self.node.auth

    async def register(self, request: Request) -> Any:
        body = await request.json()
        record = self.auth.register_repository(
            repo_id=str(body["id"]),
            fullname=body["fullname"],
            url=body.get("url", ""),
            project=body.get("project", ""),
        )
        self.node.log.info("registered repository %s (%s)", record["fullname"], record["id"])
        return record

    async def repositories(self, request: Request) -> Any:
        return {"repositories": self.auth.repositories()}

    async def repository(self, request: Request) -> Any:
        return self.auth.repository(request.path_params["id"])

    async def unregister(self, request: Request) -> Any:
        return {"unregistered": self.auth.unregister_repository(request.path_params["id"])}

    async def create_project(self, request: Request) -> Any:
        body = await request.json()
        project = self.auth.create_project(
            project_id=body["id"], name=body["name"], config=str(body["config"]), code=str(body["code"])
        )
        self.node.log.info("created project %s (%s)", project["name"], project["id"])
        return project

    async def projects(self, request: Request) -> Any:
        return {"projects": self.auth.projects()}

    async def project(self, request: Request) -> Any:
        return self.auth.project(request.path_params["id"])

    async def hook(self, request: Request) -> Any:
        return self.auth.hook(request.path_params["hook"])

    async def register_domain(self, request: Request) -> Any:
        body = await request.json()
        return self.auth.register_domain(body["fqdn"], body["project"])

    async def domain(self, request: Request) -> Any:
        return self.auth.domain(request.path_params["fqdn"])
