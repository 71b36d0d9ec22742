"""monkey: takes jobs from patrick and runs them (checkout, compile or build, publish, report).

Several monkeys compete for jobs; patrick hands each job to exactly one. A running job is heartbeated to
patrick every second (a silent monkey's job goes back on the queue) and has a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from dream.errors import DreamError
from dream.monkey.job import Job, NotReady
from dream.node import Node

POLL_SECONDS = 0.2
DEQUEUE_WAIT = 5.0  # patrick holds the dequeue call until a job comes (long-poll)
HEARTBEAT_SECONDS = 1.0
JOB_TIMEOUT = 3600.0
# Jobs run at once: a project's code job clones and builds while its config job publishes.
CONCURRENT_JOBS = 2
BUILDS_REMEMBERED = 1000


class Service(Node):
    async def on_start(self) -> None:
        self.running: set[str] = set()
        self.done = 0
        # (code repository, commit) → {resource id: CID} of code jobs that succeeded here: the same
        # commit pushed again is re-published without a checkout.
        self.built: dict[tuple[str, str], dict[str, str]] = {}
        for index in range(CONCURRENT_JOBS):
            self.spawn(self._work(), f"work-{index}")

    def remember_build(self, repo_id: str, commit: str, assets: dict[str, str]) -> None:
        if len(self.built) >= BUILDS_REMEMBERED:
            self.built.pop(next(iter(self.built)))  # the oldest
        self.built[(repo_id, commit)] = dict(assets)

    def health(self) -> dict[str, Any]:
        return {"running": sorted(self.running), "done": self.done}

    async def _work(self) -> None:
        while True:
            try:
                answer = await self.peers.json(
                    "patrick",
                    "POST",
                    "/patrick/dequeue",
                    json={"monkey": self.config.id, "wait": DEQUEUE_WAIT},
                )
            except DreamError:
                await asyncio.sleep(1.0)  # no patrick yet
                continue
            job = answer.get("job")
            if not job:
                await asyncio.sleep(POLL_SECONDS)
                continue
            await self._run(job)

    async def _run(self, record: dict[str, Any]) -> None:
        self.running.add(record["id"])
        job = Job(self, record)
        beat = self.spawn(self._beat_job(job), f"heartbeat-{record['id']}")
        try:
            await asyncio.wait_for(job.run(), timeout=JOB_TIMEOUT)
        except NotReady:
            beat.cancel()
            await job.defer()
            self.running.discard(record["id"])
            return
        except TimeoutError:
            job.fail(f"job timed out after {JOB_TIMEOUT:.0f}s")
        except Exception as exc:
            self.log.exception("job %s crashed", record["id"])
            job.fail(f"monkey crashed: {exc}")
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        await job.report()
        self.running.discard(record["id"])
        self.done += 1

    async def _beat_job(self, job: Job) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(DreamError):
                answer = await self.peers.json("patrick", "POST", "/patrick/heartbeat", json=job.holder())
                if answer.get("cancelled"):
                    job.cancel()
