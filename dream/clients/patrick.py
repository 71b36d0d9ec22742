"""The patrick client, and `Job`: the CI/CD job patrick makes of a push and hands to a monkey.

p2p routes (monkeys; the daemon's fixtures): POST /patrick/dequeue, /patrick/heartbeat, /patrick/defer,
/patrick/done, /patrick/failed; GET /patrick/job/{jid}, /patrick/jobs.
HTTP route (what GitHub calls): POST /github/{hook}, a signed push delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import httpx

from dream.clients.base import ServiceClient, ServiceError
from dream.errors import DreamError

DEQUEUE = "/patrick/dequeue"
HEARTBEAT = "/patrick/heartbeat"
DEFER = "/patrick/defer"
DONE = "/patrick/done"
FAILED = "/patrick/failed"
JOB = "/patrick/job/{jid}"
JOBS = "/patrick/jobs"
CANCEL = "/patrick/cancel/{jid}"
RETRY = "/patrick/retry/{jid}"
WEBHOOK = "/github/{hook}"

# Job states (`Job.status`).
OPEN, LOCKED, SUCCESS, FAILED_STATUS, CANCELLED = "open", "locked", "success", "failed", "cancelled"
FINISHED = (SUCCESS, FAILED_STATUS, CANCELLED)


@dataclass(frozen=True)
class HeadCommit:
    id: str
    message: str


@dataclass(frozen=True)
class PushedRepository:
    """The pushed repository, as the push event named it."""

    id: str  # GitHub's numeric id, as a string of digits
    provider: str  # "github"
    fullname: str  # owner/name
    ssh_url: str
    uri: str  # where a monkey clones it from: the event's uri, clone_url or ssh_url (`local://<dir>` too)
    default_branch: str
    pushed_at: int | str  # the event's pushed_at ("" when it had none): part of the job id


@dataclass(frozen=True)
class PushMeta:
    """What was pushed: the ref, the commits before and after, the head commit and the repository."""

    ref: str
    before: str
    after: str
    head_commit: HeadCommit
    repository: PushedRepository


@dataclass(frozen=True)
class Job:
    """A CI/CD job: made by patrick from a push delivery, handed to exactly one monkey at a time.

    The push fields are set when patrick makes the job; the others are patrick's bookkeeping, None
    until the step that sets them (a job record on the wire carries only the fields that are set)."""

    id: str  # `job-<24 hex>`, deterministic from the push (a re-delivery finds the same job)
    delivery: str  # GitHub's delivery id (X-GitHub-Delivery)
    project: str  # the project the repository belongs to ("" when auth knows none yet)
    branch: str
    meta: PushMeta
    status: str | None = None  # open, locked, success, failed, cancelled
    attempt: int | None = None  # hand-outs so far (a deferral gives its attempt back)
    timestamp: float | None = None  # when patrick made it
    logs: dict[str, str] | None = None  # log name (the job id) → hoarder CID
    assets: dict[str, str] | None = None  # resource id → CID of its build
    monkey: str | None = None  # the monkey (node id) it was handed to last
    lease: str | None = None  # that hand-out's lease: its heartbeats and report must name it
    started: float | None = None
    heartbeat: float | None = None  # its monkey's latest heartbeat
    finished: float | None = None
    error: str | None = None
    waiting: str | None = None  # why it was deferred last
    deferred: int | None = None  # how many times it was deferred (waiting for its project's config)
    retried: int | None = None  # how many times it was retried by hand

    @property
    def commit(self) -> str:
        return self.meta.after

    @property
    def repository(self) -> PushedRepository:
        return self.meta.repository

    def to_json(self) -> dict[str, Any]:
        """The record as patrick stores and serves it."""
        meta = self.meta
        data: dict[str, Any] = {
            "id": self.id,
            "delivery": self.delivery,
            "project": self.project,
            "branch": self.branch,
            "meta": {
                "ref": meta.ref,
                "before": meta.before,
                "after": meta.after,
                "head_commit": {"id": meta.head_commit.id, "message": meta.head_commit.message},
                "repository": {
                    "id": meta.repository.id,
                    "provider": meta.repository.provider,
                    "fullname": meta.repository.fullname,
                    "ssh_url": meta.repository.ssh_url,
                    "uri": meta.repository.uri,
                    "default_branch": meta.repository.default_branch,
                    "pushed_at": meta.repository.pushed_at,
                },
            },
        }
        for name in _BOOKKEEPING:
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        """A job record as patrick serves it; DreamError naming the field when it is not one."""
        try:
            meta, repo, head = data["meta"], data["meta"]["repository"], data["meta"].get("head_commit") or {}
            return cls(
                id=str(data["id"]),
                delivery=str(data.get("delivery", "")),
                project=str(data.get("project") or ""),
                branch=str(data.get("branch") or "main"),
                meta=PushMeta(
                    ref=str(meta.get("ref", "")),
                    before=str(meta.get("before", "")),
                    after=str(meta.get("after") or ""),
                    head_commit=HeadCommit(id=str(head.get("id", "")), message=str(head.get("message", ""))),
                    repository=PushedRepository(
                        id=str(repo["id"]),
                        provider=str(repo.get("provider", "github")),
                        fullname=str(repo.get("fullname", "")),
                        ssh_url=str(repo.get("ssh_url", "")),
                        uri=str(repo.get("uri", "")),
                        default_branch=str(repo.get("default_branch", "main")),
                        pushed_at=repo.get("pushed_at", ""),
                    ),
                ),
                **{name: data[name] for name in _BOOKKEEPING if data.get(name) is not None},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise DreamError(f"not a job record (missing or malformed {exc}): {str(data)[:200]}") from None


_BOOKKEEPING = (
    "status",
    "attempt",
    "timestamp",
    "logs",
    "assets",
    "monkey",
    "lease",
    "started",
    "heartbeat",
    "finished",
    "error",
    "waiting",
    "deferred",
    "retried",
)


class Holder(TypedDict):
    """Who runs an attempt of a job, as the heartbeat, defer and report calls name it."""

    jid: str
    monkey: str
    lease: str


@dataclass(frozen=True)
class Delivered:
    """Patrick's answer to a push delivery: the job it made (or had made of the same push)."""

    job: str
    created: bool


def webhook_url(base: str, hook_id: str) -> str:
    """Where the git host delivers a repository's pushes: patrick's webhook at `base` (its HTTP URL)."""
    return base + WEBHOOK.format(hook=hook_id)


class PatrickClient(ServiceClient):
    service = "patrick"

    async def dequeue(self, monkey: str, *, wait: float = 0.0) -> Job | None:
        """The oldest job ready to run, now handed to `monkey` (None when there is none); with `wait`,
        patrick holds the call until one comes (at most 10 s)."""
        answer = await self._json("POST", DEQUEUE, json={"monkey": monkey, "wait": wait})
        record = answer.get("job")
        return Job.from_json(record) if record else None

    async def heartbeat(self, holder: Holder) -> bool:
        """Tell patrick the attempt is alive; False when it must stop (cancelled, or handed elsewhere)."""
        answer = await self._json("POST", HEARTBEAT, json=dict(holder))
        return not answer.get("cancelled")

    async def defer(self, holder: Holder, *, after: float, reason: str) -> Job:
        """Give the job back (not runnable yet): queued again after `after` s, its attempt not spent."""
        body = {**holder, "after": after, "reason": reason}
        return Job.from_json(await self._json("POST", DEFER, json=body))

    async def finish(
        self, holder: Holder, *, logs: dict[str, str], assets: dict[str, str], error: str = ""
    ) -> Job:
        """Report the attempt's end: done without `error`, failed with it (logs and builds by CID)."""
        body = {**holder, "logs": logs, "assets": assets, "error": error}
        return Job.from_json(await self._json("POST", FAILED if error else DONE, json=body))

    async def job(self, jid: str) -> Job:
        """One job."""
        return Job.from_json(await self._json("GET", JOB.format(jid=jid)))

    async def jobs(self) -> list[Job]:
        """Every job, oldest first."""
        return [Job.from_json(j) for j in (await self._json("GET", JOBS))["jobs"]]

    async def cancel(self, jid: str) -> Job:
        """Cancel a job that has not ended (ServiceError with patrick's sentence otherwise)."""
        return Job.from_json(await self._json("POST", CANCEL.format(jid=jid)))

    async def retry(self, jid: str) -> Job:
        """Queue a failed or cancelled job again (ServiceError with patrick's sentence otherwise)."""
        return Job.from_json(await self._json("POST", RETRY.format(jid=jid)))

    async def deliver_push(self, hook_id: str, body: bytes, headers: dict[str, str]) -> Delivered:
        """Deliver a signed push event to patrick's webhook, as GitHub would (on its HTTP port)."""
        path = WEBHOOK.format(hook=hook_id)
        patricks = [p for p in await self.peers.discover("patrick", fresh=True) if "http" in p.ports]
        if not patricks:
            raise ServiceError(
                self.service, "POST", path, None, "no patrick node is running in this universe"
            )
        url = f"http://127.0.0.1:{patricks[0].ports['http']}{path}"
        # Signed with the hook's secret, as GitHub signs: not with the universe's key (`httpx.Auth()`
        # leaves a request as it is).
        response = await self.peers.http.post(url, content=body, headers=headers, auth=httpx.Auth())
        answer = self._decode("POST", path, response)
        return Delivered(job=str(answer["job"]), created=bool(answer.get("created")))
