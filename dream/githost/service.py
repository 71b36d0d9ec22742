"""The git host node (simple `git`): bare repositories over smart HTTP, push webhooks like GitHub's.

HTTP (what git clients use):  /<owner>/<repo>.git/...   (clone, fetch, push)
                              GET /api/repos/<owner>/<repo>, GET /api/repositories/<id>
p2p (signed; the daemon's fixtures and project creation use it):
  POST /git/repos {owner, name}        → repository      GET /git/repos, GET /git/repos/{id}
  POST /git/repos/{id}/hooks {url, secret}               GET /git/repos/{id}/deliveries
  POST /git/repos/{id}/push-event {branch} → {payload}: the push event of the branch's current head
A real `git push` that moves a branch delivers a `push` event to every hook of the repository.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dream.errors import DreamError
from dream.githost.payload import push_payload, webhook_headers
from dream.githost.repos import Repositories
from dream.githost.smart_http import http_backend
from dream.node import Node
from dream.node.peers import NO_TLS

ZERO = "0" * 40
DELIVERY_TRIES = 3


def bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"code": status, "error": message}, status_code=status)


def public(repo: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": repo["id"],
        "name": repo["name"],
        "full_name": repo["full_name"],
        "owner": {"login": repo["owner"], "id": 1},
        "private": repo["private"],
        "html_url": repo["html_url"],
        "clone_url": repo["clone_url"],
        "ssh_url": repo["clone_url"],
        "default_branch": repo["default_branch"],
    }


class Simple(Node):
    async def on_start(self) -> None:
        base = f"http://127.0.0.1:{self.config.ports['http']}"
        self.repos = Repositories(self.store, self.config.root_path / "repos", base)
        self.web = httpx.AsyncClient(timeout=30, verify=NO_TLS)
        self.last_event: dict[int, int] = {}

    async def on_stop(self) -> None:
        await self.web.aclose()

    def health(self) -> dict[str, Any]:
        return {"repositories": len(self.store.keys("/repos/"))}

    def http_routes(self) -> list[BaseRoute]:
        return [
            Route("/api/repos/{owner}/{name}", self.api_repo, methods=["GET"]),
            Route("/api/repositories/{id:int}", self.api_repo_by_id, methods=["GET"]),
            Route("/{owner}/{name}.git/{rest:path}", self.smart_http, methods=["GET", "POST"]),
        ]

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/git/repos", self.create, methods=["POST"]),
            Route("/git/repos", self.listing, methods=["GET"]),
            Route("/git/repos/{id:int}", self.one, methods=["GET"]),
            Route("/git/repos/{id:int}/hooks", self.add_hook, methods=["POST"]),
            Route("/git/repos/{id:int}/deliveries", self.deliveries, methods=["GET"]),
            Route("/git/repos/{id:int}/push-event", self.push_event, methods=["POST"]),
        ]

    # -- git clients ---------------------------------------------------------------------------------

    async def smart_http(self, request: Request) -> Response:
        owner, name = request.path_params["owner"], request.path_params["name"]
        repo = self.repos.get_by_name(owner, name)
        if repo is None:
            return Response(f"repository {owner}/{name} not found\n", status_code=404)
        pushing = request.method == "POST" and request.url.path.endswith("/git-receive-pack")
        before = await asyncio.to_thread(self.repos.refs, owner, name) if pushing else {}
        response = await http_backend(request, self.repos.root)
        if pushing:
            after = await asyncio.to_thread(self.repos.refs, owner, name)
            for ref in sorted(set(before) | set(after)):
                if before.get(ref) != after.get(ref) and after.get(ref):
                    self.spawn(self.deliver(repo, ref, before.get(ref, ZERO), after[ref]), f"deliver-{ref}")
        return response

    async def api_repo(self, request: Request) -> Response:
        repo = self.repos.get_by_name(request.path_params["owner"], request.path_params["name"])
        return JSONResponse(public(repo)) if repo else JSONResponse({"message": "Not Found"}, status_code=404)

    async def api_repo_by_id(self, request: Request) -> Response:
        repo = self.repos.get(request.path_params["id"])
        return JSONResponse(public(repo)) if repo else JSONResponse({"message": "Not Found"}, status_code=404)

    # -- webhooks ------------------------------------------------------------------------------------

    async def deliver(self, repo: dict[str, Any], ref: str, before: str, after: str) -> list[dict[str, Any]]:
        commits = await asyncio.to_thread(
            self.repos.commits, repo["owner"], repo["name"], before, after, repo["html_url"]
        )
        payload = push_payload(repository=repo, ref=ref, before=before, after=after, commits=commits)
        body = json.dumps(payload).encode()
        results = []
        for hook in self.repos.hooks(repo["id"]):
            headers = webhook_headers(body, secret=hook["secret"], hook_id=hook["id"], repo_id=repo["id"])
            delivery = await self._post(hook["url"], body, headers)
            delivery.update(hook=hook["id"], ref=ref, after=after, delivery=headers["X-GitHub-Delivery"])
            self.repos.record_delivery(repo["id"], delivery)
            self.log.info(
                "delivered push %s %s@%s to %s: %s",
                repo["full_name"],
                ref,
                after[:8],
                hook["url"],
                delivery["status"],
            )
            results.append(delivery)
        return results

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        started = time.monotonic()
        error = ""
        for attempt in range(DELIVERY_TRIES):
            try:
                response = await self.web.post(url, content=body, headers=headers)
            except httpx.TransportError as exc:
                error = str(exc) or type(exc).__name__
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            try:
                answer: Any = response.json()
            except ValueError:
                answer = response.text
            return {
                "status": response.status_code,
                "response": answer,
                "duration": time.monotonic() - started,
            }
        return {"status": 0, "response": f"delivery failed: {error}", "duration": time.monotonic() - started}

    # -- p2p API -------------------------------------------------------------------------------------

    def _repo(self, request: Request) -> dict[str, Any]:
        repo = self.repos.get(request.path_params["id"])
        if repo is None:
            raise DreamError(f"repository {request.path_params['id']} does not exist")
        return repo

    async def create(self, request: Request) -> Response:
        body = await request.json()
        try:
            repo = await asyncio.to_thread(
                self.repos.create, str(body["owner"]), str(body["name"]), private=bool(body.get("private"))
            )
        except (DreamError, KeyError) as exc:
            return bad(str(exc))
        return JSONResponse(repo)

    async def listing(self, request: Request) -> Response:
        return JSONResponse({"repositories": self.repos.all()})

    async def one(self, request: Request) -> Response:
        try:
            return JSONResponse(self._repo(request))
        except DreamError as exc:
            return bad(str(exc), 404)

    async def add_hook(self, request: Request) -> Response:
        body = await request.json()
        try:
            repo = self._repo(request)
            return JSONResponse(self.repos.add_hook(repo["id"], str(body["url"]), str(body["secret"])))
        except (DreamError, KeyError) as exc:
            return bad(str(exc))

    async def deliveries(self, request: Request) -> Response:
        return JSONResponse({"deliveries": self.repos.deliveries(request.path_params["id"])})

    async def push_event(self, request: Request) -> Response:
        """The push event GitHub would send for a branch's current head (fixtures deliver it themselves)."""
        body = await request.json()
        try:
            repo = self._repo(request)
        except DreamError as exc:
            return bad(str(exc), 404)
        branch = str(body.get("branch") or repo["default_branch"])
        head = (await asyncio.to_thread(self.repos.refs, repo["owner"], repo["name"])).get(
            f"refs/heads/{branch}"
        )
        if not head:
            return bad(f"repository {repo['full_name']} has no branch `{branch}`: push it first")
        commits = await asyncio.to_thread(
            self.repos.commits, repo["owner"], repo["name"], ZERO, head, repo["html_url"]
        )
        # Each emulated push is a new event (GitHub's pushed_at is in seconds): two in the same second
        # must still make two jobs, so the time only moves forward, per repository.
        pushed_at = max(int(time.time()), self.last_event.get(repo["id"], 0) + 1)
        self.last_event[repo["id"]] = pushed_at
        payload = push_payload(
            repository=repo,
            ref=f"refs/heads/{branch}",
            before=ZERO,
            after=head,
            commits=commits[-1:],
            pushed_at=pushed_at,
        )
        return JSONResponse({"payload": payload})
