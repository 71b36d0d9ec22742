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
  POST   /auth/certificates        {fqdn} → the domain's certificate and key, issued on first use (404 for
                                   a name of no project: nothing is issued)
  GET    /auth/certificates        → {certificates} (without keys);  DELETE /auth/certificates/{fqdn}
  GET    /auth/acme/challenges/{token}  → {token, key_authorization}: the http-01 answer a gateway serves
HTTP (read-only, secrets left out): /projects, /projects/{id}, /repositories, /repository/github/{id};
and the ACME server (RFC 8555) under /acme/ (`dream.auth.acme`).
Bodies and ids in paths are checked against the shapes below (dream.node.validate): anything else is refused
with a 400 that names the field.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from dream.auth.acme import Acme
from dream.auth.certificates import Certificates, NotAProjectDomain
from dream.auth.store import AuthStore
from dream.http.answers import answer, reply
from dream.node import Node
from dream.node.config import NodeConfig
from dream.node.security import PEER_HEADER
from dream.node.validate import FQDN, HOOK_ID, NAME, PROJECT_ID, REPO_ID, STRING, Body, Field, Text
from dream.tls.paths import ISSUER_DIR

# `owner/name`, as GitHub spells a repository.
FULLNAME = Text(
    "a repository's full name",
    pattern=r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+",
    example="me/tb_code_demo",
    empty=False,
)
# Path parameters: auth keeps repository ids as strings of digits.
REPO_ID_PARAM = Text("a repository id (digits)", pattern=r"[0-9]{1,20}", example="123456789", empty=False)
REGISTER = Body(
    {
        "id": REPO_ID,
        "fullname": FULLNAME,
        "url": Field(STRING, ""),
        "project": Field(PROJECT_ID.or_empty(), ""),
    }
)
CREATE_PROJECT = Body({"id": PROJECT_ID, "name": NAME, "config": REPO_ID, "code": REPO_ID})
ACME_TOKEN = Text(
    "an ACME token (base64url)", pattern=r"[A-Za-z0-9_-]{1,128}", example="LoqXcYV8q5ONbJQxbmR7", empty=False
)
REGISTER_DOMAIN = Body({"fqdn": FQDN, "project": PROJECT_ID})
CERTIFICATE = Body({"fqdn": FQDN})


def public(repository: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in repository.items() if k not in ("key", "hook")}


class Service(Node):
    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        # Made here, not in on_start: the HTTP port's routes (ACME) are assembled before on_start runs.
        self.auth = AuthStore(self.store)
        self.certificates = Certificates(
            self.store, self.auth, self.peers, self.config.root_path / ISSUER_DIR, self.log
        )
        self.acme = Acme(self.store, self.certificates, self.peers, self.log)

    async def on_start(self) -> None:
        self.spawn(self.certificates.follow_published(), "certificates-ahead")

    def health(self) -> dict[str, Any]:
        return {
            "certificates_issued": self.certificates.issued,
            "certificates_followed_tns_seq": self.certificates.followed,
        }

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
            Route("/auth/certificates", answer(self.certificate), methods=["POST"]),
            Route("/auth/certificates", answer(self.certificate_list), methods=["GET"]),
            Route("/auth/certificates/{fqdn}", answer(self.delete_certificate), methods=["DELETE"]),
            Route("/auth/acme/challenges/{token}", answer(self.acme_challenge), methods=["GET"]),
        ]

    def http_routes(self) -> list[BaseRoute]:
        return [
            Route("/projects", answer(self.projects)),
            Route("/projects/{id}", answer(self.project)),
            Route("/repositories", answer(self.public_repositories)),
            Route("/repository/github/{id}", answer(self.public_repository)),
            *self.acme.routes(),
        ]

    async def register(self, request: Request) -> Any:
        body = await REGISTER.read(request)
        record = self.auth.register_repository(
            repo_id=body["id"], fullname=body["fullname"], url=body["url"], project=body["project"]
        )
        self.log.info("registered repository %s (%s)", record["fullname"], record["id"])
        return record

    async def repositories(self, request: Request) -> Any:
        return {"repositories": self.auth.repositories()}

    async def repository(self, request: Request) -> Any:
        return self.auth.repository(REPO_ID_PARAM.param(request, "id"))

    async def public_repositories(self, request: Request) -> Any:
        return {"repositories": [public(r) for r in self.auth.repositories()]}

    async def public_repository(self, request: Request) -> Any:
        found = self.auth.repository(REPO_ID_PARAM.param(request, "id"))
        return public(found) if found else None

    async def unregister(self, request: Request) -> Any:
        return {"unregistered": self.auth.unregister_repository(REPO_ID_PARAM.param(request, "id"))}

    async def create_project(self, request: Request) -> Any:
        body = await CREATE_PROJECT.read(request)
        project = self.auth.create_project(
            project_id=body["id"], name=body["name"], config=body["config"], code=body["code"]
        )
        self.log.info("created project %s (%s)", project["name"], project["id"])
        return project

    async def projects(self, request: Request) -> Any:
        return {"projects": self.auth.projects()}

    async def project(self, request: Request) -> Any:
        return self.auth.project(PROJECT_ID.param(request, "id"))

    async def hook(self, request: Request) -> Any:
        return self.auth.hook(HOOK_ID.param(request, "hook"))

    async def register_domain(self, request: Request) -> Any:
        body = await REGISTER_DOMAIN.read(request)
        return self.auth.register_domain(body["fqdn"], body["project"])

    async def domain(self, request: Request) -> Any:
        return self.auth.domain(FQDN.param(request, "fqdn"))

    async def certificate(self, request: Request) -> Any:
        body = await CERTIFICATE.read(request)
        try:
            asker = request.headers.get(PEER_HEADER, "an unnamed peer")
            issued, new = await self.certificates.certificate(body["fqdn"], asker)
        except NotAProjectDomain as exc:
            return reply(404, str(exc))
        return {"fqdn": issued.names[0], **asdict(issued), "issued": new}

    async def certificate_list(self, request: Request) -> Any:
        return {"certificates": self.certificates.listing()}

    async def delete_certificate(self, request: Request) -> Any:
        return {"deleted": self.certificates.delete(FQDN.param(request, "fqdn"))}

    async def acme_challenge(self, request: Request) -> Any:
        token = ACME_TOKEN.param(request, "token")
        found = self.acme.key_authorization(token)
        return {"token": token, "key_authorization": found} if found else None
