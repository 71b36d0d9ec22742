"""patrick: receives GitHub push webhooks, verifies them, and keeps the job queue monkeys work from.

HTTP:  POST /github/{hook}   a push delivery (X-GitHub-Event, X-Hub-Signature-256 / X-Hub-Signature)
       GET  /ping            {"ping": "pong"}
       GET  /jobs/{project}  {"jobs": [...]};  GET /job/{id};  GET /logs/{cid} (raw text)
       POST /cancel/{id};  POST /retry/{id}
p2p:   POST /patrick/dequeue {monkey} → {available, job}
       POST /patrick/heartbeat {jid, monkey};  POST /patrick/done|failed {jid, monkey, logs, assets, error}
       POST /patrick/defer {jid, monkey, after, reason}  (not runnable yet: back on the queue, attempt kept)
       GET  /patrick/job/{id};  GET /patrick/jobs
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dream.errors import DreamError
from dream.githost.payload import verify_signature
from dream.node import Node
from dream.node.answers import answer, reply
from dream.patrick.jobs import FAILED, SUCCESS, JobStore, job_id

# A monkey heartbeats its job every second; this much silence means it is gone.
SILENT_AFTER = 10.0
MAX_DEQUEUE_WAIT = 10.0
REANNOUNCE_EVERY = 1.0


class Service(Node):
    async def on_start(self) -> None:
        self.jobs = JobStore(self.store)
        self.queued = asyncio.Condition()  # notified whenever a job may have become available
        self.spawn(self._reannounce(), "reannounce")

    def health(self) -> dict[str, Any]:
        return {"jobs": len(self.store.keys("/jobs/")), "queued": len(self.store.keys("/queue/"))}

    def http_routes(self) -> list[BaseRoute]:
        return [
            Route("/github/{hook}", self.github, methods=["POST"]),
            Route("/ping", answer(self.ping), methods=["GET"]),
            Route("/jobs/{project}", answer(self.project_jobs), methods=["GET"]),
            Route("/job/{jid}", answer(self.job), methods=["GET"]),
            Route("/logs/{cid}", self.logs, methods=["GET"]),
            Route("/cancel/{jid}", answer(self.cancel), methods=["POST"]),
            Route("/retry/{jid}", answer(self.retry), methods=["POST"]),
        ]

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/patrick/dequeue", answer(self.dequeue), methods=["POST"]),
            Route("/patrick/heartbeat", answer(self.heartbeat), methods=["POST"]),
            Route("/patrick/defer", answer(self.defer), methods=["POST"]),
            Route("/patrick/done", answer(self.done), methods=["POST"]),
            Route("/patrick/failed", answer(self.failed), methods=["POST"]),
            Route("/patrick/job/{jid}", answer(self.job), methods=["GET"]),
            Route("/patrick/jobs", answer(self.all_jobs), methods=["GET"]),
        ]

    # -- webhooks ------------------------------------------------------------------------------------

    async def github(self, request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        hook = request.path_params["hook"]
        if not (headers.get("x-hub-signature-256") or headers.get("x-hub-signature")):
            return reply(401, "unsigned delivery: X-Hub-Signature-256 (or X-Hub-Signature) is required")
        try:
            record = await self.peers.json("auth", "GET", f"/auth/hooks/{hook}")
        except DreamError:
            record = None
        if not record:
            return reply(400, f"unknown hook `{hook}`: register the repository with auth first")
        if not verify_signature(body, record["secret"], dict(headers)):
            self.log.warning(
                "refused delivery %s for hook %s: bad signature", headers.get("x-github-delivery"), hook
            )
            return reply(403, f"signature does not match the secret of hook `{hook}`")
        event = headers.get("x-github-event", "")
        if event != "push":
            return reply(400, f"only push events are built; got `{event or 'no event'}`")
        try:
            payload = json.loads(body)
            job, created = await self._job_from_push(payload, record, headers.get("x-github-delivery", ""))
        except (ValueError, KeyError, TypeError) as exc:
            return reply(400, f"not a GitHub push payload: {exc}")
        except DreamError as exc:
            return reply(400, str(exc))
        if created:
            self.log.info(
                "job %s for %s @ %s",
                job["id"],
                job["meta"]["repository"]["fullname"],
                job["meta"]["after"][:8],
            )
        return JSONResponse({"job": job["id"], "created": created}, status_code=201 if created else 200)

    async def _job_from_push(
        self, payload: dict[str, Any], hook: dict[str, Any], delivery: str
    ) -> tuple[dict[str, Any], bool]:
        repository = payload["repository"]
        repo_id = str(repository["id"])
        if repo_id != str(hook["repository"]):
            raise DreamError(f"hook {hook['id']} belongs to repository {hook['repository']}, not {repo_id}")
        ref = payload["ref"]
        branch = ref.removeprefix("refs/heads/")
        pushed_at = repository.get("pushed_at", "")
        uri = repository.get("uri") or repository.get("clone_url") or repository.get("ssh_url", "")
        repo = await self.peers.json("auth", "GET", f"/auth/repositories/{repo_id}")
        job = {
            "id": job_id(repo_id, ref, payload["after"], pushed_at),
            "delivery": delivery,
            "project": repo.get("project", ""),
            "branch": branch,
            "meta": {
                "ref": ref,
                "before": payload.get("before", ""),
                "after": payload["after"],
                "head_commit": {
                    "id": (payload.get("head_commit") or {}).get("id", payload["after"]),
                    "message": (payload.get("head_commit") or {}).get("message", ""),
                },
                "repository": {
                    "id": repo_id,
                    "provider": "github",
                    "fullname": repository.get("full_name", repo.get("fullname", "")),
                    "ssh_url": repository.get("ssh_url", ""),
                    "uri": uri,
                    "default_branch": repository.get("default_branch", "main"),
                    "pushed_at": pushed_at,
                },
            },
        }
        job, created = self.jobs.create(job)
        if created:
            await self.peers.json(
                "tns",
                "POST",
                "/tns/push",
                json={"path": f"resolve/repo/github/{repo_id}", "data": {"id": repo_id, "ssh": uri}},
            )
        return job, created

    # -- reading and steering jobs -------------------------------------------------------------------

    async def ping(self, request: Request) -> Any:
        return {"ping": "pong"}

    async def project_jobs(self, request: Request) -> Any:
        return {"jobs": self.jobs.by_project(request.path_params["project"])}

    async def all_jobs(self, request: Request) -> Any:
        return {"jobs": self.jobs.all()}

    async def job(self, request: Request) -> Any:
        return self.jobs.require(request.path_params["jid"])

    async def logs(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        try:
            response = await self.peers.call("hoarder", "GET", f"/hoarder/blob/{cid}")
        except DreamError as exc:
            return reply(400, str(exc))
        if response.status_code != 200:
            return reply(404, f"no log with cid {cid}")
        return PlainTextResponse(response.content.decode(errors="replace"))

    async def cancel(self, request: Request) -> Any:
        return self.jobs.cancel(request.path_params["jid"])

    async def retry(self, request: Request) -> Any:
        job = self.jobs.retry(request.path_params["jid"])
        await self._wake()
        return job

    async def _wake(self) -> None:
        async with self.queued:
            self.queued.notify_all()

    # -- monkeys -------------------------------------------------------------------------------------

    async def dequeue(self, request: Request) -> Any:
        """Hand the oldest ripe job to a monkey; with `wait`, hold the call until one comes (long-poll)."""
        body = await request.json()
        monkey = str(body["monkey"])
        deadline = asyncio.get_running_loop().time() + min(float(body.get("wait", 0)), MAX_DEQUEUE_WAIT)
        job = self.jobs.dequeue(monkey)
        while job is None and (left := deadline - asyncio.get_running_loop().time()) > 0:
            async with self.queued:
                with contextlib.suppress(TimeoutError):
                    # Deferred jobs ripen without a notification: wake at least every 50 ms.
                    await asyncio.wait_for(self.queued.wait(), timeout=min(left, 0.05))
            # A monkey that died while waiting (its other job crashed it) must not be handed a job:
            # it would sit locked until its heartbeat is missed, and count as an attempt.
            if await request.is_disconnected():
                return {"available": False, "job": None}
            job = self.jobs.dequeue(monkey)
        if job:
            self.log.info("job %s taken by monkey %s (attempt %s)", job["id"], job["monkey"], job["attempt"])
        return {"available": job is not None, "job": job}

    async def heartbeat(self, request: Request) -> Any:
        body = await request.json()
        if not self.jobs.heartbeat(body["jid"], str(body["monkey"]), str(body.get("lease", ""))):
            # Cancelled, or no longer this monkey's (queued again, retried): it must stop and publish nothing.
            return {"ok": False, "cancelled": True}
        return {"ok": True, "cancelled": False}

    async def defer(self, request: Request) -> Any:
        body = await request.json()
        return self.jobs.defer(
            body["jid"],
            str(body["monkey"]),
            str(body.get("lease", "")),
            after=float(body.get("after", 0.2)),
            reason=str(body.get("reason", "")),
        )

    async def done(self, request: Request) -> Any:
        return await self._finish(request, SUCCESS)

    async def failed(self, request: Request) -> Any:
        return await self._finish(request, FAILED)

    async def _finish(self, request: Request, status: str) -> Any:
        body = await request.json()
        job = self.jobs.finish(
            body["jid"],
            str(body["monkey"]),
            str(body.get("lease", "")),
            status,
            logs=body.get("logs") or {},
            assets=body.get("assets") or {},
            error=body.get("error", ""),
        )
        took = job["finished"] - job.get("started", job["finished"])
        self.log.info("job %s %s in %.2fs", job["id"], job["status"], took)
        return job

    async def _reannounce(self) -> None:
        while True:
            await asyncio.sleep(REANNOUNCE_EVERY)
            try:
                monkeys = {p.id for p in await self.peers.discover("monkey")}
            except Exception:
                monkeys = None
            requeued = self.jobs.reannounce(silent_after=SILENT_AFTER, live_monkeys=monkeys or None)
            for jid in requeued:
                self.log.info("job %s queued again (its monkey went silent or it was never taken)", jid)
            if requeued:
                await self._wake()
