"""Patrick's durable job records and queue, in the node's KV store.

A job is created from a push delivery, queued, handed to exactly one monkey (`dequeue` is atomic: one
process, one event loop), and ends success, failed or cancelled. A job whose monkey went silent is
queued again, at most MAX_ATTEMPTS times in all. Each hand-out has its own lease: a monkey's heartbeat and
report count only for the attempt it was handed (not for a later one after a retry or a re-queue).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from dream.errors import DreamError
from dream.node.store import KVStore

OPEN, LOCKED, SUCCESS, FAILED, CANCELLED = "open", "locked", "success", "failed", "cancelled"
FINISHED = (SUCCESS, FAILED, CANCELLED)
MAX_ATTEMPTS = 2


def job_id(repo_id: str, ref: str, after: str, pushed_at: Any) -> str:
    """Deterministic from the push, so a re-delivered webhook finds the job it already made."""
    digest = hashlib.sha256(f"v1:github:{repo_id}:{ref}:{after}:{pushed_at}".encode()).hexdigest()
    return "job-" + digest[:24]


# Jobs not ended (open or locked) are also listed under LIVE: `reannounce`, once a second, reads those
# instead of every job ever made (19 ms of CPU a second after 1,000 builds, and growing).
LIVE = "/live/"
LIVE_INDEX = "/live-index"  # present once LIVE lists every live job (stores made before it get it once)


class JobStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv
        if self.kv.get(LIVE_INDEX) is None:
            for job in self.all():
                if job["status"] not in FINISHED:
                    self.kv.put_json(LIVE + job["id"], job["id"])
            self.kv.put_json(LIVE_INDEX, 1)

    def get(self, jid: str) -> dict[str, Any] | None:
        job = self.kv.get_json(f"/jobs/{jid}")
        return dict(job) if job else None

    def require(self, jid: str) -> dict[str, Any]:
        job = self.get(jid)
        if job is None:
            raise DreamError(f"job `{jid}` does not exist")
        return job

    def save(self, job: dict[str, Any]) -> None:
        # Ordered so that a crash between the two writes leaves at worst an ended job listed as live
        # (reannounce skips it), never a live job unlisted (it would never be queued again).
        if job["status"] in FINISHED:
            self.kv.put_json(f"/jobs/{job['id']}", job)
            self.kv.delete(LIVE + job["id"])
        else:
            self.kv.put_json(LIVE + job["id"], job["id"])
            self.kv.put_json(f"/jobs/{job['id']}", job)

    def live(self) -> list[dict[str, Any]]:
        """The jobs not ended (open or locked), oldest first."""
        jobs = [j for j in (self.get(k.removeprefix(LIVE)) for k in self.kv.keys(LIVE)) if j]
        return sorted((j for j in jobs if j["status"] not in FINISHED), key=lambda j: j["timestamp"])

    def create(self, job: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(job, created): an existing job with the same id is returned as it is."""
        existing = self.get(job["id"])
        if existing:
            return existing, False
        job.setdefault("status", OPEN)
        job.setdefault("attempt", 0)
        job.setdefault("timestamp", time.time())
        job.setdefault("logs", {})
        job.setdefault("assets", {})
        self.save(job)
        if job.get("project"):
            self.kv.put_json(f"/by/project/{job['project']}/{job['id']}", job["timestamp"])
        self.enqueue(job)
        return job, True

    def enqueue(self, job: dict[str, Any], *, after: float = 0.0) -> None:
        # The key sorts by the time the job may be taken, so dequeue can take the first ripe one.
        self.kv.put_json(f"/queue/{time.time() + after:020.6f}-{job['id']}", job["id"])

    def by_project(self, project: str) -> list[dict[str, Any]]:
        ids = [k.rsplit("/", 1)[1] for k in self.kv.keys(f"/by/project/{project}/")]
        jobs = [j for j in (self.get(i) for i in ids) if j]
        return sorted(jobs, key=lambda j: j["timestamp"])

    def all(self) -> list[dict[str, Any]]:
        jobs = [dict(v) for v in (self.kv.get_json(k) for k in self.kv.keys("/jobs/")) if v]
        return sorted(jobs, key=lambda j: j["timestamp"])

    def next_ripe(self) -> float | None:
        """When (`time.time()`) the first queued job may be taken; None when the queue is empty. A job
        already taken or cancelled may still hold its place: dequeue drops it once it is ripe."""
        for key in self.kv.keys("/queue/"):
            return float(key.removeprefix("/queue/").split("-", 1)[0])
        return None

    def dequeue(self, monkey: str) -> dict[str, Any] | None:
        now = time.time()
        for key in self.kv.keys("/queue/"):
            if float(key.removeprefix("/queue/").split("-", 1)[0]) > now:
                break
            jid = self.kv.get_json(key)
            self.kv.delete(key)
            job = self.get(jid)
            if job is None or job["status"] != OPEN:
                continue
            job["status"] = LOCKED
            job["attempt"] = int(job.get("attempt", 0)) + 1
            job["monkey"] = monkey
            job["lease"] = secrets.token_hex(8)
            job["started"] = job["heartbeat"] = time.time()
            self.save(job)
            return job
        return None

    def defer(self, jid: str, monkey: str, lease: str, *, after: float, reason: str) -> dict[str, Any]:
        """A job its monkey cannot run yet (its config is not published): queued again, attempt not spent."""
        job = self._assigned(jid, monkey, lease)
        job.update(status=OPEN, monkey="", lease="", attempt=int(job["attempt"]) - 1, waiting=reason)
        job["deferred"] = int(job.get("deferred", 0)) + 1
        self.save(job)
        self.enqueue(job, after=after)
        return job

    def heartbeat(self, jid: str, monkey: str, lease: str) -> bool:
        """Whether `monkey` should go on with the job: the attempt it was handed is still running."""
        job = self.require(jid)
        if not self._holds(job, monkey, lease):
            return False
        job["heartbeat"] = time.time()
        self.save(job)
        return True

    def finish(
        self,
        jid: str,
        monkey: str,
        lease: str,
        status: str,
        *,
        logs: dict[str, str],
        assets: dict[str, str],
        error: str,
    ) -> dict[str, Any]:
        job = self.require(jid)
        if job["status"] == CANCELLED and self._handed(job, monkey, lease):
            # The cancelled attempt's report: its log is kept, the job stays cancelled.
            job.update(logs={**job["logs"], **logs}, error=error or "cancelled")
            self.save(job)
            return job
        job = self._assigned(jid, monkey, lease)
        job.update(
            status=status, logs={**job["logs"], **logs}, assets={**job["assets"], **assets}, error=error
        )
        job["finished"] = time.time()
        self.save(job)
        return job

    def _assigned(self, jid: str, monkey: str, lease: str) -> dict[str, Any]:
        job = self.require(jid)
        if not self._holds(job, monkey, lease):
            raise DreamError(
                f"job `{jid}` is not assigned to monkey {monkey} under lease {lease or '(none)'}"
                f" (status {job['status']})"
            )
        return job

    @staticmethod
    def _handed(job: dict[str, Any], monkey: str, lease: str) -> bool:
        """The job's latest hand-out was to `monkey` under `lease`."""
        return (job.get("monkey"), job.get("lease", "")) == (monkey, lease)

    @classmethod
    def _holds(cls, job: dict[str, Any], monkey: str, lease: str) -> bool:
        return job["status"] == LOCKED and cls._handed(job, monkey, lease)

    def cancel(self, jid: str) -> dict[str, Any]:
        job = self.require(jid)
        if job["status"] in FINISHED:
            raise DreamError(f"job `{jid}` already ended ({job['status']})")
        job["status"] = CANCELLED
        job["finished"] = time.time()
        self.save(job)
        return job

    def retry(self, jid: str) -> dict[str, Any]:
        job = self.require(jid)
        if job["status"] not in (FAILED, CANCELLED):
            raise DreamError(f"job `{jid}` is {job['status']}: only failed or cancelled jobs can be retried")
        job.update(status=OPEN, attempt=0, error="", monkey="", lease="")
        job["retried"] = int(job.get("retried", 0)) + 1
        self.save(job)
        self.enqueue(job)
        return job

    def reannounce(self, *, silent_after: float, live_monkeys: set[str] | None) -> list[str]:
        """Queue again the jobs whose monkey went silent (or is gone); fail those out of attempts."""
        now = time.time()
        queued = {self.kv.get_json(k) for k in self.kv.keys("/queue/")}
        touched: list[str] = []
        for job in self.live():
            if job["status"] == OPEN and job["id"] not in queued:
                self.enqueue(job)
                touched.append(job["id"])
            elif job["status"] == LOCKED:
                gone = live_monkeys is not None and job.get("monkey") not in live_monkeys
                if not gone and now - float(job.get("heartbeat", 0)) < silent_after:
                    continue
                if int(job["attempt"]) >= MAX_ATTEMPTS:
                    job.update(
                        status=FAILED, error=f"monkey {job.get('monkey')} went silent; no attempts left"
                    )
                    job["finished"] = now
                    self.save(job)
                else:
                    job.update(status=OPEN, monkey="", lease="")
                    self.save(job)
                    self.enqueue(job)
                touched.append(job["id"])
        return touched
