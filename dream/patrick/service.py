"""patrick: receives GitHub push webhooks, verifies them, and keeps the job queue monkeys work from.

HTTP:  POST /github/{hook}   a push delivery (X-GitHub-Event, X-Hub-Signature-256 / X-Hub-Signature)
       GET  /ping            {"ping": "pong"}
       GET  /jobs/{project}  {"jobs": [...]};  GET /job/{id};  GET /logs/{cid} (raw text)
       POST /cancel/{id};  POST /retry/{id}
p2p:   POST /patrick/dequeue {monkey} → {available, job}
       POST /patrick/heartbeat {jid, monkey};  POST /patrick/done|failed {jid, monkey, logs, assets, error}
       POST /patrick/defer {jid, monkey, after, reason}  (not runnable yet: back on the queue, attempt kept)
       GET  /patrick/job/{id};  GET /patrick/jobs
Bodies, the push payload (after its signature is checked) and ids in paths are checked against the shapes
below (dream.node.validate): anything else is refused with a 400 that names the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dream.clients import Clients
from dream.clients.auth import Hook
from dream.clients.base import ServiceError
from dream.clients.patrick import HeadCommit, Job, PushedRepository, PushMeta
from dream.errors import DreamError
from dream.http.answers import answer, reply
from dream.http.longpoll import held
from dream.http.webhooks import verify_signature
from dream.node import Node, beat
from dream.node.validate import (
    CID,
    COMMIT,
    HOOK_ID,
    JOB_ID,
    NAME,
    PROJECT_ID,
    REPO_ID,
    STRING,
    Body,
    Field,
    Integer,
    Kind,
    MapOf,
    Number,
    Object,
    OrNull,
    Text,
)
from dream.patrick.jobs import FAILED, SUCCESS, JobStore, job_id

# A monkey heartbeats its job every second; this much silence means it is gone.
SILENT_AFTER = 10.0
MAX_DEQUEUE_WAIT = 10.0
# A waiting dequeue wakes this long after the first queued job ripens (the clocks' rounding).
RIPE_SLACK = 0.005
REANNOUNCE_EVERY = 1.0

# What the monkeys send: the job, the monkey and the lease of the attempt it was handed.
HOLDER: dict[str, Kind | Field] = {"jid": JOB_ID, "monkey": NAME, "lease": Field(STRING, "")}
DEQUEUE = Body({"monkey": NAME, "wait": Field(Number(minimum=0), 0.0)})
HEARTBEAT = Body(HOLDER)
DEFER = Body({**HOLDER, "after": Field(Number(minimum=0), 0.2), "reason": Field(STRING, "")})
FINISH = Body(
    {**HOLDER, "logs": Field(MapOf(CID), {}), "assets": Field(MapOf(CID), {}), "error": Field(STRING, "")}
)
# GitHub's push event: the fields patrick reads are checked, the many others GitHub sends are left alone.
PUSH_EVENT = Body(
    {
        "ref": Text("a git ref", pattern=r"refs/[^\s]+", example="refs/heads/main", empty=False),
        "after": COMMIT,
        "before": Field(COMMIT, ""),
        "head_commit": Field(
            OrNull(Object({"id": Field(STRING, ""), "message": Field(STRING, "")}, closed=False)), None
        ),
        "repository": Object(
            {
                "id": REPO_ID,
                "full_name": Field(STRING, ""),
                "pushed_at": Field(Integer(), ""),
                "uri": Field(STRING, ""),
                "clone_url": Field(STRING, ""),
                "ssh_url": Field(STRING, ""),
                "default_branch": Field(STRING, "main"),
            },
            closed=False,
        ),
    },
    closed=False,
    fix="send a GitHub push event, at least "
    '{"ref": "refs/heads/main", "after": "<sha>", "repository": {"id": 123456789}}',
)


class Service(Node):
    async def on_start(self) -> None:
        self.jobs = JobStore(self.store)
        self.clients = Clients(self.peers)
        self.queued = asyncio.Condition()  # notified whenever a job may have become available
        self.spawn(self._reannounce(), "reannounce")

    def health(self) -> dict[str, Any]:
        return {"jobs": len(self.store.keys("/jobs/")), "queued": len(self.store.keys("/queue/"))}

    def http_routes(self) -> list[BaseRoute]:
        return [
            Route("/github/{hook}", answer(self.github), methods=["POST"]),
            Route("/ping", answer(self.ping), methods=["GET"]),
            Route("/jobs/{project}", answer(self.project_jobs), methods=["GET"]),
            Route("/job/{jid}", answer(self.job), methods=["GET"]),
            Route("/logs/{cid}", answer(self.logs), methods=["GET"]),
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
            # The same as the HTTP port's, for the daemon's dashboard (through PatrickClient).
            Route("/patrick/cancel/{jid}", answer(self.cancel), methods=["POST"]),
            Route("/patrick/retry/{jid}", answer(self.retry), methods=["POST"]),
        ]

    # -- webhooks ------------------------------------------------------------------------------------

    async def github(self, request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        if not (headers.get("x-hub-signature-256") or headers.get("x-hub-signature")):
            return reply(401, "unsigned delivery: X-Hub-Signature-256 (or X-Hub-Signature) is required")
        hook = HOOK_ID.param(request, "hook")
        record: Hook | None
        try:
            record = await self.clients.auth.hook(hook)
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
        # Only a signed delivery's payload is read: an unsigned one is never parsed.
        payload = PUSH_EVENT.parse(body, f"the push payload of hook `{hook}`")
        job, created = await self._job_from_push(payload, record, headers.get("x-github-delivery", ""))
        if created:
            self.log.info(
                "job %s for %s @ %s",
                job["id"],
                job["meta"]["repository"]["fullname"],
                job["meta"]["after"][:8],
            )
        return JSONResponse({"job": job["id"], "created": created}, status_code=201 if created else 200)

    async def _job_from_push(
        self, payload: dict[str, Any], hook: Hook, delivery: str
    ) -> tuple[dict[str, Any], bool]:
        repository = payload["repository"]
        repo_id = repository["id"]
        if repo_id != str(hook["repository"]):
            raise DreamError(f"hook {hook['id']} belongs to repository {hook['repository']}, not {repo_id}")
        ref = payload["ref"]
        branch = ref.removeprefix("refs/heads/")
        pushed_at = repository["pushed_at"]
        uri = repository["uri"] or repository["clone_url"] or repository["ssh_url"]
        repo = await self.clients.auth.repository(repo_id)
        head = payload["head_commit"] or {}
        made = Job(
            id=job_id(repo_id, ref, payload["after"], pushed_at),
            delivery=delivery,
            project=repo.get("project", ""),
            branch=branch,
            meta=PushMeta(
                ref=ref,
                before=payload["before"],
                after=payload["after"],
                head_commit=HeadCommit(
                    id=head.get("id") or payload["after"], message=head.get("message", "")
                ),
                repository=PushedRepository(
                    id=repo_id,
                    provider="github",
                    fullname=repository["full_name"] or repo.get("fullname", ""),
                    ssh_url=repository["ssh_url"],
                    uri=uri,
                    default_branch=repository["default_branch"],
                    pushed_at=pushed_at,
                ),
            ),
        )
        job, created = self.jobs.create(made.to_json())
        if created:
            await self.clients.tns.resolve_repository(repo_id, uri)
            await self._wake()  # the monkeys waiting in dequeue
        return job, created

    # -- reading and steering jobs -------------------------------------------------------------------

    async def ping(self, request: Request) -> Any:
        return {"ping": "pong"}

    async def project_jobs(self, request: Request) -> Any:
        return {"jobs": self.jobs.by_project(PROJECT_ID.param(request, "project"))}

    async def all_jobs(self, request: Request) -> Any:
        return {"jobs": self.jobs.all()}

    async def job(self, request: Request) -> Any:
        return self.jobs.require(JOB_ID.param(request, "jid"))

    async def logs(self, request: Request) -> Response:
        cid = CID.param(request, "cid")
        try:
            data = await self.clients.hoarder.blob(cid)
        except ServiceError as exc:
            if exc.status is None:  # no hoarder answered
                return reply(400, str(exc))
            data = None
        if data is None:
            return reply(404, f"no log with cid {cid}")
        return PlainTextResponse(data.decode(errors="replace"))

    async def cancel(self, request: Request) -> Any:
        return self.jobs.cancel(JOB_ID.param(request, "jid"))

    async def retry(self, request: Request) -> Any:
        job = self.jobs.retry(JOB_ID.param(request, "jid"))
        await self._wake()
        return job

    async def _notice(self, timeout: float) -> None:
        """Until a job may have become available (`_wake`), or `timeout` seconds."""
        async with self.queued:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queued.wait(), timeout=timeout)

    async def _wake(self) -> None:
        async with self.queued:
            self.queued.notify_all()

    # -- monkeys -------------------------------------------------------------------------------------

    async def dequeue(self, request: Request) -> Any:
        """Hand the oldest ripe job to a monkey; with `wait`, hold the call until one comes (long-poll)."""
        body = await DEQUEUE.read(request)
        monkey = body["monkey"]
        # A longer wait is cut to MAX_DEQUEUE_WAIT, not refused.
        deadline = asyncio.get_running_loop().time() + min(body["wait"], MAX_DEQUEUE_WAIT)
        job = self.jobs.dequeue(monkey)
        while job is None and (left := deadline - asyncio.get_running_loop().time()) > 0:
            # A new job notifies; a deferred one ripens without a notification: wake when the first
            # queued job ripens. Waking every 50 ms instead kept an idle patrick busy (2 % of a core).
            ripe = self.jobs.next_ripe()
            if ripe is not None:
                left = min(left, max(ripe - time.time(), 0.0) + RIPE_SLACK)
            # A monkey that died while waiting (its other job crashed it, or it stopped) must not be
            # handed a job: it would sit locked until its heartbeat is missed, and count as an attempt.
            if not await held(request, self._notice(left)):
                return {"available": False, "job": None}
            job = self.jobs.dequeue(monkey)
        if job:
            self.log.info("job %s taken by monkey %s (attempt %s)", job["id"], job["monkey"], job["attempt"])
        return {"available": job is not None, "job": job}

    async def heartbeat(self, request: Request) -> Any:
        body = await HEARTBEAT.read(request)
        if not self.jobs.heartbeat(body["jid"], body["monkey"], body["lease"]):
            # Cancelled, or no longer this monkey's (queued again, retried): it must stop and publish nothing.
            return {"ok": False, "cancelled": True}
        return {"ok": True, "cancelled": False}

    async def defer(self, request: Request) -> Any:
        body = await DEFER.read(request)
        job = self.jobs.defer(
            body["jid"], body["monkey"], body["lease"], after=body["after"], reason=body["reason"]
        )
        await self._wake()  # waiting dequeues look again when the queue's first job ripens
        return job

    async def done(self, request: Request) -> Any:
        return await self._finish(request, SUCCESS)

    async def failed(self, request: Request) -> Any:
        return await self._finish(request, FAILED)

    async def _finish(self, request: Request, status: str) -> Any:
        body = await FINISH.read(request)
        job = self.jobs.finish(
            body["jid"],
            body["monkey"],
            body["lease"],
            status,
            logs=body["logs"],
            assets=body["assets"],
            error=body["error"],
        )
        took = job["finished"] - job.get("started", job["finished"])
        self.log.info("job %s %s in %.2fs", job["id"], job["status"], took)
        return job

    async def _reannounce(self) -> None:
        while True:
            await asyncio.sleep(beat.pause(REANNOUNCE_EVERY))
            try:
                monkeys = {p.id for p in await self.peers.discover("monkey")}
            except Exception:
                monkeys = None
            requeued = self.jobs.reannounce(silent_after=SILENT_AFTER, live_monkeys=monkeys or None)
            for jid in requeued:
                self.log.info("job %s queued again (its monkey went silent or it was never taken)", jid)
            if requeued:
                await self._wake()
