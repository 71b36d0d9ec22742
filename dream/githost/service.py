"""The git host node (simple `git`): bare repositories over smart HTTP, push webhooks like GitHub's.

HTTP (what git clients use):  /<owner>/<repo>.git/...   (clone, fetch, push)
                              GET /api/repos/<owner>/<repo>, GET /api/repositories/<id>
p2p (signed; the daemon's fixtures and project creation use it):
  POST /git/repos {owner, name}        → repository      GET /git/repos, GET /git/repos/{id}
  POST /git/repos/{id}/hooks {url, secret}               GET /git/repos/{id}/hooks (no secrets)
  GET /git/repos/{id}/deliveries: each delivery with its state and attempts
  POST /git/repos/{id}/push-event {branch} → {payload}: the push event of the branch's current head
  POST /git/hooks/moved {moves: {old base URL: new base URL}} → {updated}: hooks follow a moved node
A real `git push` that moves a branch delivers a `push` event to every hook of the repository. A
delivery that gets no answer or a 5xx is an error in the log and is tried again after each wait of the
backoff schedule (DELIVERY_BACKOFF, or DREAM_WEBHOOK_BACKOFF in the daemon's environment), then given
up; each attempt shows in the deliveries list. A delivery still pending when the node stops is resumed
when it starts again.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dream.errors import DreamError
from dream.githost.payload import push_payload
from dream.githost.repos import Repositories
from dream.githost.smart_http import http_backend, no_room_for_push
from dream.http.webhooks import webhook_headers
from dream.node import Node
from dream.node.peers import NO_TLS

ZERO = "0" * 40
# Seconds to wait before each new attempt of a delivery that failed: 7 attempts over about a minute,
# enough for a patrick that restarts or a kept universe that comes back on other ports.
DELIVERY_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
DELIVERY_BACKOFF_ENV = "DREAM_WEBHOOK_BACKOFF"
DELIVERY_TIMEOUT = 30.0  # seconds one attempt waits for the receiver's answer


def delivery_backoff(text: str | None) -> tuple[tuple[float, ...], str]:
    """The retry schedule from DREAM_WEBHOOK_BACKOFF (comma-separated seconds; empty: no retry), and an
    error sentence when the value is not usable (the default is used then)."""
    if text is None:
        return DELIVERY_BACKOFF, ""
    try:
        waits = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        waits = (-1.0,)
    if not all(0 <= w <= 3600 for w in waits):
        default = ",".join(f"{w:g}" for w in DELIVERY_BACKOFF)
        return DELIVERY_BACKOFF, (
            f"{DELIVERY_BACKOFF_ENV}={text!r} is not a comma-separated list of waits in seconds "
            f"(each 0 to 3600); using the default {default}"
        )
    return waits, ""


def said(answer: Any) -> str:
    """What a receiver's answer says, for the log: its `error` sentence when it has one."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return str(answer["error"])
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return text[:300] or "(empty body)"


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
        self.web = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT, verify=NO_TLS)
        self.last_event: dict[int, int] = {}
        self.backoff, problem = delivery_backoff(os.environ.get(DELIVERY_BACKOFF_ENV))
        if problem:
            self.log.error("%s", problem)
        for key, record, body in self.repos.pending_deliveries():
            self.log.info("resuming delivery %s to %s", record["delivery"], record["url"])
            self.spawn(self._attempts(key, record, body), f"delivery-{record['delivery']}")

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
            Route("/git/repos/{id:int}/hooks", self.list_hooks, methods=["GET"]),
            Route("/git/repos/{id:int}/deliveries", self.deliveries, methods=["GET"]),
            Route("/git/repos/{id:int}/push-event", self.push_event, methods=["POST"]),
            Route("/git/hooks/moved", self.hooks_moved, methods=["POST"]),
        ]

    # -- git clients ---------------------------------------------------------------------------------

    async def smart_http(self, request: Request) -> Response:
        owner, name = request.path_params["owner"], request.path_params["name"]
        repo = self.repos.get_by_name(owner, name)
        if repo is None:
            return Response(f"repository {owner}/{name} not found\n", status_code=404)
        pushing = request.method == "POST" and request.url.path.endswith("/git-receive-pack")
        # Said where git shows it (a text answer to the ref discovery of a push reaches the user as
        # `remote: ...`), and before the pack is unpacked, where a full disk becomes `unpacker error`.
        discovering = request.query_params.get("service") == "git-receive-pack"
        if pushing or discovering:
            length = request.headers.get("content-length", "")
            size = int(length) if pushing and length.isdigit() else 0
            full = no_room_for_push(self.repos.root, size)
            if full:
                self.log.error("refused a push to %s/%s: %s", owner, name, full)
                return PlainTextResponse(full + "\n", status_code=507)
        before = await asyncio.to_thread(self.repos.refs, owner, name) if pushing else {}
        response = await http_backend(request, self.repos.root)
        if pushing:
            after = await asyncio.to_thread(self.repos.refs, owner, name)
            for ref in sorted(set(before) | set(after)):
                if before.get(ref) != after.get(ref) and after.get(ref):
                    # The hooks a push goes to are those it found (as on GitHub): a hook added while its
                    # payload is being made (a new project hooks its repositories right after their
                    # first push) does not get it.
                    hooks = self.repos.hooks(repo["id"])
                    self.spawn(
                        self.deliver(repo, ref, before.get(ref, ZERO), after[ref], hooks), f"deliver-{ref}"
                    )
        return response

    async def api_repo(self, request: Request) -> Response:
        repo = self.repos.get_by_name(request.path_params["owner"], request.path_params["name"])
        return JSONResponse(public(repo)) if repo else JSONResponse({"message": "Not Found"}, status_code=404)

    async def api_repo_by_id(self, request: Request) -> Response:
        repo = self.repos.get(request.path_params["id"])
        return JSONResponse(public(repo)) if repo else JSONResponse({"message": "Not Found"}, status_code=404)

    # -- webhooks ------------------------------------------------------------------------------------

    async def deliver(
        self, repo: dict[str, Any], ref: str, before: str, after: str, hooks: list[dict[str, Any]]
    ) -> None:
        """A push event to each of `hooks` (the repository's when the push came), each delivery tried on
        its own schedule."""
        if not hooks:
            return
        commits = await asyncio.to_thread(
            self.repos.commits, repo["owner"], repo["name"], before, after, repo["html_url"]
        )
        payload = push_payload(repository=repo, ref=ref, before=before, after=after, commits=commits)
        body = json.dumps(payload).encode()
        for hook in hooks:
            record: dict[str, Any] = {
                "delivery": str(uuid.uuid4()),
                "repository": repo["id"],
                "full_name": repo["full_name"],
                "hook": hook["id"],
                "url": hook["url"],
                "ref": ref,
                "after": after,
                "state": "pending",
                "status": 0,
                "response": "",
                "duration": 0.0,
                "attempts": [],
                "next_attempt": None,
            }
            key = self.repos.start_delivery(repo["id"], record, body)
            self.spawn(self._attempts(key, record, body), f"delivery-{record['delivery']}")

    async def _attempts(self, key: str, record: dict[str, Any], body: bytes) -> None:
        """Deliver until answered, refused, or out of retries; the record shows every attempt."""
        what = f"delivery {record['delivery']} of push {record['full_name']} {record['ref']}@{record['after'][:8]}"
        while True:
            hook = self.repos.hook(record["repository"], record["hook"])
            if hook is None:
                record.update(state="failed", response="the hook was removed", next_attempt=None)
                self.repos.update_delivery(key, record, final=True)
                self.log.error("%s: its hook %s was removed; not delivered", what, record["hook"])
                return
            # The hook is read again before each attempt: a target that moved meanwhile is followed.
            record["url"] = hook["url"]
            headers = webhook_headers(
                body, secret=hook["secret"], hook_id=hook["id"], repo_id=record["repository"]
            )
            headers["X-GitHub-Delivery"] = record["delivery"]
            attempt = await self._post(hook["url"], body, headers)
            record["attempts"].append(attempt)
            record.update(
                status=attempt["status"], response=attempt["response"], duration=attempt["duration"]
            )
            tries = len(record["attempts"])
            if 200 <= attempt["status"] < 300:
                record.update(state="delivered", next_attempt=None)
                self.repos.update_delivery(key, record, final=True)
                self.log.info("%s to %s: %s (attempt %d)", what, hook["url"], attempt["status"], tries)
                return
            reason = attempt["error"] or f"HTTP {attempt['status']}: {said(attempt['response'])}"
            # No answer or a server error may pass; any other answer is the receiver's refusal.
            retry = attempt["status"] == 0 or attempt["status"] >= 500
            if retry and tries <= len(self.backoff):
                wait = self.backoff[tries - 1]
                record.update(state="retrying", next_attempt=time.time() + wait)
                self.repos.update_delivery(key, record, final=False)
                self.log.error(
                    "%s to %s failed (attempt %d of %d): %s; trying again in %gs",
                    what,
                    hook["url"],
                    tries,
                    len(self.backoff) + 1,
                    reason,
                    wait,
                )
                await asyncio.sleep(wait)
                continue
            record.update(state="failed", next_attempt=None)
            self.repos.update_delivery(key, record, final=True)
            self.log.error(
                "%s to %s failed: %s; %s",
                what,
                hook["url"],
                reason,
                f"gave up after {tries} attempts" if retry else "not tried again (the receiver refused it)",
            )
            return

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """One attempt: {at, url, status (0: no answer), response, error, duration}."""
        started = time.monotonic()
        attempt: dict[str, Any] = {"at": time.time(), "url": url, "status": 0, "response": "", "error": ""}
        try:
            response = await self.web.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            try:
                answer: Any = response.json()
            except ValueError:
                answer = response.text[:2000]
            attempt.update(status=response.status_code, response=answer)
        attempt["duration"] = time.monotonic() - started
        return attempt

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

    async def hooks_moved(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return bad('the body must be JSON: {"moves": {old base URL: new base URL}}')
        moves = body.get("moves") if isinstance(body, dict) else None
        if not isinstance(moves, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in moves.items()
        ):
            return bad("`moves` must be a JSON object of old base URL → new base URL")
        updated = self.repos.move_hooks(moves)
        if updated:
            self.log.warning(
                "%d webhook target(s) moved: %s", updated, ", ".join(f"{a} → {b}" for a, b in moves.items())
            )
        return JSONResponse({"updated": updated})

    async def list_hooks(self, request: Request) -> Response:
        hooks = self.repos.hooks(request.path_params["id"])
        return JSONResponse({"hooks": [{k: v for k, v in h.items() if k != "secret"} for h in hooks]})

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
