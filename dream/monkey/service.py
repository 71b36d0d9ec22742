"""monkey: takes jobs from patrick and runs them (checkout, compile or build, publish, report).

Several monkeys compete for jobs; patrick hands each job to exactly one. A running job is heartbeated to
patrick every second (a silent monkey's job goes back on the queue) and has a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from dream.clients import Clients
from dream.clients.patrick import Job
from dream.errors import DreamError
from dream.monkey.job import JobContext, JobRun, NotReady
from dream.node import Node

POLL_SECONDS = 0.2
DEQUEUE_WAIT = 5.0  # patrick holds the dequeue call until a job comes (long-poll)
HEARTBEAT_SECONDS = 1.0
JOB_TIMEOUT = 3600.0
# Jobs run at once: a project's code job clones and builds while its config job publishes.
CONCURRENT_JOBS = 2


class Service(Node):
    async def on_start(self) -> None:
        self.running: set[str] = set()
        self.done = 0
        self.context = JobContext(
            clients=Clients(self.peers),
            monkey=self.config.id,
            universe=self.config.universe,
            log=self.log,
            root=self.config.root_path,
        )
        for index in range(CONCURRENT_JOBS):
            self.spawn(self._work(), f"work-{index}")

    def health(self) -> dict[str, Any]:
        return {"running": sorted(self.running), "done": self.done}

    async def _work(self) -> None:
        patrick = self.context.clients.patrick
        while True:
            try:
                job = await patrick.dequeue(self.config.id, wait=DEQUEUE_WAIT)
            except DreamError:
                await asyncio.sleep(1.0)  # no patrick yet
                continue
            if job is None:
                await asyncio.sleep(POLL_SECONDS)
                continue
            await self._run(job)

    async def _run(self, job: Job) -> None:
        self.running.add(job.id)
        run = JobRun(self.context, job)
        beat = self.spawn(self._beat_job(run), f"heartbeat-{job.id}")
        try:
            await asyncio.wait_for(run.run(), timeout=JOB_TIMEOUT)
        except NotReady:
            beat.cancel()
            await run.defer()
            self.running.discard(job.id)
            return
        except TimeoutError:
            run.fail(f"job timed out after {JOB_TIMEOUT:.0f}s")
        except Exception as exc:
            self.log.exception("job %s crashed", job.id)
            run.fail(f"monkey crashed: {exc}")
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        await run.report()
        self.running.discard(job.id)
        self.done += 1

    async def _beat_job(self, run: JobRun) -> None:
        patrick = self.context.clients.patrick
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(DreamError):
                if not await patrick.heartbeat(run.holder()):
                    run.cancel()
