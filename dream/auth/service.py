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

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from dream.auth.store import AuthStore
from dream.node import Node
from dream.node.answers import answer


def public(repository: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in repository.items() if k not in ("key", "hook")}


class Service(Node):
    async def on_start(self) -> None:
        self.auth = AuthStore(self.store)

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/auth/repositories", answer(self.register), methods=["POST"]),
            Route("/auth/repositories", answer(self.repositories), methods=["GET"]),
            Route("/auth/repositories/{id}", answer(self.repository), methods=["GET"]),
            Route("/auth/repositories/{id}", answer(self.unregister), methods=["DELETE"]),
            Route("/auth/projects", answer(self.create_project), methods=["POST"]),
            Route("/auth/projects", answer(self.projects), methods=["GET"]),
            Route("/auth/projects/{id}", answer(self.project), methods=["GET"]),
            Route("/auth/hooks/{hook}", answer(self.hook), methods=["GET"]),
            Route("/auth/domains", answer(self.register_domain), methods=["POST"]),
            Route("/auth/domains/{fqdn}", answer(self.domain), methods=["GET"]),
        ]

    def http_routes(self) -> list[BaseRoute]:
        return [
            Route("/projects", answer(self.projects)),
            Route("/projects/{id}", answer(self.project)),
            Route("/repositories", answer(self.public_repositories)),
            Route("/repository/github/{id}", answer(self.public_repository)),
        ]

    async def register(self, request: Request) -> Any:
        body = await request.json()
        record = self.auth.register_repository(
            repo_id=str(body["id"]),
            fullname=body["fullname"],
            url=body.get("url", ""),
            project=body.get("project", ""),
        )
        self.log.info("registered repository %s (%s)", record["fullname"], record["id"])
        return record

    async def repositories(self, request: Request) -> Any:
        return {"repositories": self.auth.repositories()}

    async def repository(self, request: Request) -> Any:
        return self.auth.repository(request.path_params["id"])

    async def public_repositories(self, request: Request) -> Any:
        return {"repositories": [public(r) for r in self.auth.repositories()]}

    async def public_repository(self, request: Request) -> Any:
        found = self.auth.repository(request.path_params["id"])
        return public(found) if found else None

    async def unregister(self, request: Request) -> Any:
        return {"unregistered": self.auth.unregister_repository(request.path_params["id"])}

    async def create_project(self, request: Request) -> Any:
        body = await request.json()
        project = self.auth.create_project(
            project_id=body["id"], name=body["name"], config=str(body["config"]), code=str(body["code"])
        )
        self.log.info("created project %s (%s)", project["name"], project["id"])
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
