"""The auth client: repositories (deploy keys, webhook secrets), projects and domain registrations.

Routes: POST/GET /auth/repositories, GET/DELETE /auth/repositories/{id}, POST/GET /auth/projects,
GET /auth/projects/{id}, GET /auth/hooks/{hook}, POST /auth/domains, GET /auth/domains/{fqdn},
POST/GET /auth/certificates, DELETE /auth/certificates/{fqdn}, GET /auth/acme/challenges/{token}.
A record that does not exist is a ServiceError whose `not_found` is true (auth answers 404).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from dream.clients.base import ServiceClient, ServiceError

REPOSITORIES = "/auth/repositories"
REPOSITORY = "/auth/repositories/{id}"
PROJECTS = "/auth/projects"
PROJECT = "/auth/projects/{id}"
HOOK = "/auth/hooks/{hook}"
DOMAINS = "/auth/domains"
DOMAIN = "/auth/domains/{fqdn}"
CERTIFICATES = "/auth/certificates"
CERTIFICATE = "/auth/certificates/{fqdn}"
ACME_CHALLENGE = "/auth/acme/challenges/{token}"


class HookSecret(TypedDict):
    """The webhook a repository's pushes are delivered with: its id (in patrick's URL) and secret."""

    id: str
    secret: str


class Repository(TypedDict):
    """A repository registered with auth (GitHub's numeric id, as a string of digits)."""

    id: str
    provider: str  # "github"
    fullname: str  # owner/name
    url: str  # where it is cloned from ("" when not told)
    project: str  # the project it belongs to ("" before one is created)
    key: str  # its deploy key
    hook: HookSecret


class Project(TypedDict):
    """A project: its id, name and its config and code repositories (ids)."""

    id: str
    name: str
    provider: str
    config: str
    code: str


class Hook(TypedDict):
    """A webhook as patrick checks a delivery against it."""

    id: str
    provider: str
    secret: str
    repository: str  # the repository id it belongs to


class Domain(TypedDict):
    """A domain registered to a project, with the token that proves it (`entry`: the DNS record)."""

    fqdn: str
    project: str
    token: str
    entry: NotRequired[str]  # only in the answer of a registration


class CertificateInfo(TypedDict):
    """A certificate auth keeps for a domain, as listed (no key)."""

    fqdn: str
    names: list[str]  # the domain, then its `.localhost` twin
    certificate: str  # PEM: the domain's certificate, then the issuer's (not the root)
    serial: str  # hex
    not_after: str  # ISO 8601, UTC


class Certificate(CertificateInfo):
    """A domain's certificate with its private key, as a substrate or gateway serves it."""

    key: str  # PEM (PKCS#8)
    issued: bool  # issued by this very call (not kept from before)


class AuthClient(ServiceClient):
    service = "auth"

    async def register_repository(
        self, repo_id: str, fullname: str, *, url: str = "", project: str = ""
    ) -> Repository:
        """Register a repository (again: its hook, secret and deploy key are kept, the rest updated)."""
        body = {"id": repo_id, "fullname": fullname, "url": url, "project": project}
        answer: Repository = await self._json("POST", REPOSITORIES, json=body)
        return answer

    async def repositories(self) -> list[Repository]:
        """Every registered repository."""
        return list((await self._json("GET", REPOSITORIES))["repositories"])

    async def repository(self, repo_id: str) -> Repository:
        """One registered repository."""
        answer: Repository = await self._json("GET", REPOSITORY.format(id=repo_id))
        return answer

    async def unregister_repository(self, repo_id: str) -> bool:
        """Forget a repository and its hook; False when it was not registered."""
        return bool((await self._json("DELETE", REPOSITORY.format(id=repo_id)))["unregistered"])

    async def create_project(self, project_id: str, name: str, *, config: str, code: str) -> Project:
        """A project from its two registered repositories (which then belong to it)."""
        body = {"id": project_id, "name": name, "config": config, "code": code}
        answer: Project = await self._json("POST", PROJECTS, json=body)
        return answer

    async def projects(self) -> list[Project]:
        """Every project."""
        return list((await self._json("GET", PROJECTS))["projects"])

    async def project(self, project_id: str) -> Project:
        """One project."""
        answer: Project = await self._json("GET", PROJECT.format(id=project_id))
        return answer

    async def hook(self, hook_id: str) -> Hook:
        """The webhook `hook_id`, with its secret."""
        answer: Hook = await self._json("GET", HOOK.format(hook=hook_id))
        return answer

    async def register_domain(self, fqdn: str, project_id: str) -> Domain:
        """Register `fqdn` to a project (again for the same project: the same token)."""
        answer: Domain = await self._json("POST", DOMAINS, json={"fqdn": fqdn, "project": project_id})
        return answer

    async def domain(self, fqdn: str) -> Domain:
        """Who `fqdn` is registered to."""
        answer: Domain = await self._json("GET", DOMAIN.format(fqdn=fqdn))
        return answer

    async def certificate(self, fqdn: str) -> Certificate:
        """The certificate of `fqdn` (or of the domain it is the `.localhost` twin of), issued now if auth
        has none or it is due; a ServiceError with `not_found` for a name no project serves."""
        answer: Certificate = await self._json("POST", CERTIFICATES, json={"fqdn": fqdn})
        return answer

    async def certificates(self) -> list[CertificateInfo]:
        """Every certificate auth keeps (without keys)."""
        return list((await self._json("GET", CERTIFICATES))["certificates"])

    async def delete_certificate(self, fqdn: str) -> bool:
        """Forget the certificate of `fqdn` (the next handshake gets a new one); False when there was none."""
        return bool((await self._json("DELETE", CERTIFICATE.format(fqdn=fqdn)))["deleted"])

    async def serving_certificate(self, fqdn: str) -> tuple[str, str] | None:
        """(certificate chain, key) PEM of `fqdn` for an HTTPS port; None for a name no project serves."""
        try:
            found = await self.certificate(fqdn)
        except ServiceError as exc:
            if exc.not_found:
                return None
            raise
        return found["certificate"], found["key"]

    async def acme_key_authorization(self, token: str) -> str | None:
        """What `/.well-known/acme-challenge/<token>` answers (ACME http-01); None for an unknown token."""
        try:
            found = await self._json("GET", ACME_CHALLENGE.format(token=token))
        except ServiceError as exc:
            if exc.not_found or exc.status == 400:
                return None
            raise
        return str(found["key_authorization"])
