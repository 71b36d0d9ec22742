"""Auth's records in the node's KV store, under upstream's key layout."""

from __future__ import annotations

import secrets
import time
from typing import Any

from dream.errors import DreamError
from dream.node.store import KVStore


class AuthStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    # -- repositories --------------------------------------------------------------------------------

    def register_repository(
        self, *, repo_id: str, fullname: str, url: str = "", project: str = ""
    ) -> dict[str, Any]:
        if not repo_id.isdigit():
            raise DreamError(f"repository id `{repo_id}` must be the provider's numeric id")
        base = f"/repositories/github/{repo_id}"
        existing = self.repository(repo_id)
        hook_id = existing["hook"]["id"] if existing else str(secrets.randbelow(900_000_000) + 100_000_000)
        secret = existing["hook"]["secret"] if existing else secrets.token_hex(20)
        key = existing["key"] if existing else "dream-deploy-" + secrets.token_hex(16)
        self.kv.put_json(f"{base}/fullname", fullname)
        self.kv.put_json(f"{base}/url", url)
        self.kv.put_json(f"{base}/key", key)
        self.kv.put_json(f"{base}/hooks/{hook_id}", True)
        if project:
            self.kv.put_json(f"{base}/project", project)
        self.kv.put_json(f"/hooks/{hook_id}/provider", "github")
        self.kv.put_json(f"/hooks/{hook_id}/github/id", hook_id)
        self.kv.put_json(f"/hooks/{hook_id}/github/secret", secret)
        self.kv.put_json(f"/hooks/{hook_id}/github/repository", repo_id)
        record = self.repository(repo_id)
        assert record is not None
        return record

    def repository(self, repo_id: str) -> dict[str, Any] | None:
        base = f"/repositories/github/{repo_id}"
        fullname = self.kv.get_json(f"{base}/fullname")
        if fullname is None:
            return None
        hooks = [k.rsplit("/", 1)[1] for k in self.kv.keys(f"{base}/hooks/")]
        hook_id = hooks[0] if hooks else ""
        return {
            "id": repo_id,
            "provider": "github",
            "fullname": fullname,
            "url": self.kv.get_json(f"{base}/url") or "",
            "project": self.kv.get_json(f"{base}/project") or "",
            "key": self.kv.get_json(f"{base}/key"),
            "hook": {"id": hook_id, "secret": self.kv.get_json(f"/hooks/{hook_id}/github/secret")},
        }

    def repositories(self) -> list[dict[str, Any]]:
        ids = sorted({k.split("/")[3] for k in self.kv.keys("/repositories/github/")})
        return [r for r in (self.repository(i) for i in ids) if r]

    def unregister_repository(self, repo_id: str) -> bool:
        record = self.repository(repo_id)
        if record is None:
            return False
        self.kv.delete_prefix(f"/repositories/github/{repo_id}/")
        if record["hook"]["id"]:
            self.kv.delete_prefix(f"/hooks/{record['hook']['id']}/")
        return True

    def hook(self, hook_id: str) -> dict[str, Any] | None:
        secret = self.kv.get_json(f"/hooks/{hook_id}/github/secret")
        if secret is None:
            return None
        return {
            "id": hook_id,
            "provider": "github",
            "secret": secret,
            "repository": self.kv.get_json(f"/hooks/{hook_id}/github/repository"),
        }

    # -- projects ------------------------------------------------------------------------------------

    def create_project(self, *, project_id: str, name: str, config: str, code: str) -> dict[str, Any]:
        if self.project(project_id):
            raise DreamError(f"project `{project_id}` already exists")
        for role, repo_id in (("config", config), ("code", code)):
            record = self.repository(repo_id)
            if record is None:
                raise DreamError(f"{role} repository {repo_id} is not registered; register it first")
            if record["project"] and record["project"] != project_id:
                raise DreamError(
                    f"{role} repository {repo_id} already belongs to project {record['project']}"
                )
        base = f"/projects/{project_id}"
        self.kv.put_json(f"{base}/name", name)
        self.kv.put_json(f"{base}/repositories/provider", "github")
        self.kv.put_json(f"{base}/repositories/config", config)
        self.kv.put_json(f"{base}/repositories/code", code)
        self.kv.put_json(f"{base}/created", time.time())
        for repo_id in (config, code):
            self.kv.put_json(f"/repositories/github/{repo_id}/project", project_id)
        record = self.project(project_id)
        assert record is not None
        return record

    def project(self, project_id: str) -> dict[str, Any] | None:
        base = f"/projects/{project_id}"
        name = self.kv.get_json(f"{base}/name")
        if name is None:
            return None
        return {
            "id": project_id,
            "name": name,
            "provider": "github",
            "config": self.kv.get_json(f"{base}/repositories/config"),
            "code": self.kv.get_json(f"{base}/repositories/code"),
        }

    def projects(self) -> list[dict[str, Any]]:
        ids = sorted({k.split("/")[2] for k in self.kv.keys("/projects/")})
        return [p for p in (self.project(i) for i in ids) if p]

    def delete_project(self, project_id: str) -> bool:
        return self.kv.delete_prefix(f"/projects/{project_id}/") > 0

    # -- domains -------------------------------------------------------------------------------------

    def register_domain(self, fqdn: str, project_id: str) -> dict[str, Any]:
        fqdn = fqdn.lower().rstrip(".")
        owner = self.kv.get_json(f"/domains/{fqdn}/project")
        if owner and owner != project_id:
            raise DreamError(f"domain {fqdn} is registered to project {owner}")
        token = self.kv.get_json(f"/domains/{fqdn}/token") or secrets.token_hex(16)
        self.kv.put_json(f"/domains/{fqdn}/project", project_id)
        self.kv.put_json(f"/domains/{fqdn}/token", token)
        return {"fqdn": fqdn, "project": project_id, "token": token, "entry": f"{token[:8]}.{fqdn}"}

    def domain(self, fqdn: str) -> dict[str, Any] | None:
        fqdn = fqdn.lower().rstrip(".")
        project = self.kv.get_json(f"/domains/{fqdn}/project")
        if project is None:
            return None
        return {"fqdn": fqdn, "project": project, "token": self.kv.get_json(f"/domains/{fqdn}/token")}
