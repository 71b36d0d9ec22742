"""One CI/CD job: find the repository's project and role, check it out, build or compile, publish.

- config repo: compile the YAML tree and publish indexes, the project object and the current commit to tns;
- code repo: build every inline function (and smartop) of the published config, stash each artefact in
  hoarder and point `assets/<hash>` at its CID;
- website / library repo: build the one resource the config says the repository serves.
A failure publishes nothing new, so what was deployed before keeps serving; so does a job cancelled
through patrick (its monkey hears of it with the next heartbeat and stops the build in progress).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dream.clients import Clients
from dream.clients.auth import Project
from dream.clients.patrick import Holder, Job
from dream.clients.tns import PublishedConfig
from dream.errors import DreamError
from dream.monkey import pipeline
from dream.monkey.checkout import ZERO, checkout
from dream.monkey.live_log import LiveLog, job_log_path
from dream.tcc import tns_keys

# How long a code (website, library) job may wait, deferred, for its project's config to be published.
CONFIG_PATIENCE = 60.0
DEFER_SECONDS = 0.05
# After its checkout, how long a code job waits for a config being published (by a job running at the
# same time, usually) before it gives its place back to other jobs.
CONFIG_SOON = 1.0
CONFIG_POLL = 0.02


class NotReady(DreamError):
    """The job cannot run yet; patrick should queue it again (other jobs, like its config's, go first)."""


BUILDS_REMEMBERED = 1000


class Builds:
    """(code repository, commit) → {resource id: CID} of the code jobs that succeeded on this monkey: the
    same commit pushed again is re-published without a checkout. The oldest are forgotten first."""

    def __init__(self, size: int = BUILDS_REMEMBERED) -> None:
        self.size = size
        self._built: dict[tuple[str, str], dict[str, str]] = {}

    def get(self, repo_id: str, commit: str) -> dict[str, str] | None:
        return self._built.get((repo_id, commit))

    def remember(self, repo_id: str, commit: str, assets: dict[str, str]) -> None:
        if len(self._built) >= self.size:
            self._built.pop(next(iter(self._built)))  # the oldest
        self._built[(repo_id, commit)] = dict(assets)


@dataclass(frozen=True)
class JobContext:
    """What a job runs with, from its monkey: the service clients, who the monkey is, where its
    universe's generated domains are, the builds it remembers, the node's log (for what the job's own
    log cannot hold: a report that could not be sent) and its folder (where job logs are followed)."""

    clients: Clients
    monkey: str  # the monkey's node id, as patrick knows it
    universe: str
    log: logging.Logger
    builds: Builds = field(default_factory=Builds)
    root: Path | None = None  # the monkey's folder: job logs are written there as they run (live_log.py)


def _live_path(root: Path | None, job_id: str) -> Path | None:
    try:
        return job_log_path(root, job_id) if root is not None else None
    except ValueError:  # not patrick's id shape: no file name is made of it
        return None


class JobRun:
    """One attempt at a job handed by patrick: its log lines, its builds, its cancellation."""

    def __init__(self, ctx: JobContext, job: Job) -> None:
        self.ctx = ctx
        self.job = job
        self.id = job.id
        self.branch = job.branch or "main"
        self.repository = job.repository
        self.lines: list[str] = []
        self.error = ""
        self.assets: dict[str, str] = {}
        self.stop = threading.Event()  # set when patrick says the job was cancelled (any thread may look)
        self.started = time.time()
        self.live = LiveLog(_live_path(ctx.root, job.id))

    # -- log -----------------------------------------------------------------------------------------

    def log(self, text: str) -> None:
        stamped = [f"{time.time() - self.started:7.3f}s {line}" for line in str(text).splitlines() or [""]]
        self.lines.extend(stamped)
        try:
            self.live.write(stamped)
        except OSError as exc:  # a full disk loses the live view, never the job (hoarder keeps its log)
            self.ctx.log.warning("could not write the live log of job %s: %s", self.id, exc)

    def op(self, **fields: Any) -> None:
        # Upstream's job logs are JSON events; keep that shape for the structured steps.
        self.log(json.dumps({**fields, "timestamp": int(time.time())}))

    def fail(self, message: str) -> None:
        self.error = self.error or message
        self.log(f"ERROR: {message}")

    @property
    def cancelled(self) -> bool:
        return self.stop.is_set()

    def cancel(self) -> None:
        if not self.cancelled:
            self.log("cancelled: stopping")
            self.stop.set()

    def holder(self) -> Holder:
        """Who runs this attempt, as patrick's heartbeat, defer and report calls take it."""
        return Holder(jid=self.id, monkey=self.ctx.monkey, lease=self.job.lease or "")

    def _go_on(self) -> None:
        """Before each step that publishes: a cancelled job publishes nothing more."""
        if self.cancelled:
            raise DreamError("job cancelled: nothing more is published")

    # -- run -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        except NotReady:
            raise
        except DreamError as exc:
            self.fail(str(exc))

    def _patient(self) -> bool:
        """Whether this job may be deferred again while it waits for its project's config."""
        return (self.job.deferred or 0) * (DEFER_SECONDS + CONFIG_SOON) < CONFIG_PATIENCE

    async def _config_or_defer(self, project_id: str) -> PublishedConfig:
        try:
            return await pipeline.published_config(
                self.ctx.clients, project_id, self.branch, log=self.log, wait=CONFIG_SOON, every=CONFIG_POLL
            )
        except DreamError as exc:
            if self._patient():
                raise NotReady(f"waiting for the config of project {project_id}") from None
            raise DreamError(f"{exc} (waited {CONFIG_PATIENCE:.0f}s)") from None

    async def _run(self) -> None:
        repo_id = self.repository.id
        project_id = self.job.project
        self.log(
            f"job {self.id}: {self.repository.fullname or repo_id} @ {self.job.commit[:12]} ({self.branch})"
        )
        auth = self.ctx.clients.auth
        if not project_id:
            project_id = (await auth.repository(repo_id)).get("project", "")
        if not project_id:
            self.fail(f"repository {repo_id} belongs to no project: create the project first")
            return
        project = await auth.project(project_id)
        kind = await self._kind(repo_id, project)
        self.log(f"project {project['name']} ({project_id}), {kind} repository")
        uri = self.repository.uri or self.repository.ssh_url
        commit = self.job.commit
        # A commit pushed again whose work is already done needs no checkout (a `local://` source may
        # change without a commit, so it is always built).
        if not uri.startswith("local://") and re.fullmatch(r"[0-9a-f]{40}", commit) and commit != ZERO:
            if kind == "config" and await self._config_already_published(project_id, commit):
                return
            self._go_on()
            if kind == "code" and await self._code_already_built(repo_id, commit, project_id):
                return
        with tempfile.TemporaryDirectory(prefix="dream-job-") as tmp:
            self.op(op="git-clone", url=uri, branch=self.branch)
            try:
                src, commit = await asyncio.to_thread(
                    checkout, uri, self.branch, self.job.commit, Path(tmp) / "src"
                )
            except DreamError as exc:
                self.op(op="git-clone", status="error", error=str(exc))
                self.fail(str(exc))
                return
            self.op(op="git-clone", status="success", commit=commit)
            # Code, websites and libraries build what the published config declares. It is usually
            # being published by the config job running beside this one; if it does not come soon, this
            # job is deferred so the monkey can run others meanwhile.
            obj = None if kind == "config" else await self._config_or_defer(project_id)
            self._go_on()
            if kind == "config":
                await self._config(src, commit, project_id)
            elif kind == "code":
                await self._code(src, project_id, obj or {})
                if not self.error:
                    self.ctx.builds.remember(repo_id, commit, self.assets)
            else:
                await self._single(src, project_id, repo_id, kind)

    async def _config_already_published(self, project_id: str, commit: str) -> bool:
        tns = self.ctx.clients.tns
        if await tns.current_commit(project_id, self.branch) != commit:
            return False
        if await tns.compiled_config(project_id, self.branch, commit) is None:
            return False
        self.log(f"config {commit[:12]} is already the published config of this branch: nothing to do")
        return True

    async def _code_already_built(self, repo_id: str, commit: str, project_id: str) -> bool:
        """Re-publish the builds this monkey made of the same commit, if they cover the current config."""
        built = self.ctx.builds.get(repo_id, commit)
        if built is None:
            return False
        try:
            obj = await pipeline.published_config(
                self.ctx.clients, project_id, self.branch, log=lambda _: None, wait=0
            )
        except DreamError:
            return False
        targets = pipeline.inline_targets(obj, Path("."))
        if not all(t.id in built for t in targets):
            return False
        await self.ctx.clients.tns.publish_assets(
            project_id, self.branch, {t.id: built[t.id] for t in targets}
        )
        for target in targets:
            self.assets[target.id] = built[target.id]
            self.log(
                f"built {target.label} from the build cache (commit {commit[:12]} was built): cid {built[target.id]}"
            )
        return True

    async def _kind(self, repo_id: str, project: Project) -> str:
        if repo_id == str(project.get("config")):
            return "config"
        if repo_id == str(project.get("code")):
            return "code"
        # A website or library repository is known from the published config, which may be being published
        # right now (push-all sends every repository's push at once): wait for it a little, then defer.
        roles = {tns_keys.REPO_TYPE_WEBSITE: "website", tns_keys.REPO_TYPE_LIBRARY: "library"}
        deadline = time.monotonic() + CONFIG_SOON
        while True:
            kind = await self.ctx.clients.tns.repository_type(repo_id, project["id"])
            if kind in roles:
                return roles[kind]
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(CONFIG_POLL)
        if self._patient():
            raise NotReady(
                f"waiting for a config of project {project['id']} that builds repository {repo_id}"
            )
        raise DreamError(
            f"repository {repo_id} is neither the config nor the code repository of project {project['id']}, "
            f"and no website or library of its config is built from it (waited {CONFIG_PATIENCE:.0f}s)"
        )

    # -- config, code, websites, libraries ---------------------------------------------------------

    async def _config(self, src: Path, commit: str, project_id: str) -> None:
        from dream.tcc.errors import CompileError, ConfigError

        try:
            await pipeline.publish_config(
                self.ctx.clients,
                src,
                branch=self.branch,
                commit=commit,
                project_id=project_id,
                universe=self.ctx.universe,
                log=self.log,
            )
        except (CompileError, ConfigError) as exc:
            self.fail(f"config does not compile:\n{exc}")

    async def _code(self, src: Path, project_id: str, obj: PublishedConfig) -> None:
        targets = pipeline.inline_targets(obj, src)
        if not targets:
            self.log("the config has no inline functions: nothing to build")
        for target in targets:
            self._go_on()
            await self._build(target, project_id)

    async def _single(self, src: Path, project_id: str, repo_id: str, kind: str) -> None:
        ids = await self.ctx.clients.tns.repository_resources(repo_id, project_id)
        if not ids:
            self.fail(f"no {kind} of project {project_id} is built from repository {repo_id}")
            return
        for res_id in ids:
            self._go_on()
            await self._build(pipeline.Target(res_id, f"{kind} {res_id}", src), project_id)

    async def _build(self, target: pipeline.Target, project_id: str) -> None:
        try:
            self.assets[target.id] = await pipeline.build_and_publish(
                self.ctx.clients,
                target,
                project_id=project_id,
                branch=self.branch,
                log=self.log,
                cancel=self.stop,
            )
        except DreamError as exc:
            self.fail(str(exc))

    # -- report --------------------------------------------------------------------------------------

    async def defer(self) -> None:
        try:
            await self.ctx.clients.patrick.defer(
                self.holder(), after=DEFER_SECONDS, reason="config not published yet"
            )
        except DreamError as exc:
            self.ctx.log.error("could not defer job %s: %s", self.id, exc)

    async def report(self) -> None:
        self.log(f"job {'failed' if self.error else 'succeeded'} in {time.time() - self.started:.2f}s")
        logs: dict[str, str] = {}
        try:
            stashed = await self.ctx.clients.hoarder.stash("\n".join(self.lines).encode() + b"\n")
            logs[self.id] = stashed["cid"]
        except DreamError as exc:
            self.ctx.log.error("could not keep the log of job %s: %s", self.id, exc)
        try:
            await self.ctx.clients.patrick.finish(
                self.holder(), logs=logs, assets=self.assets, error=self.error
            )
        except DreamError as exc:
            self.ctx.log.error("could not report job %s to patrick: %s", self.id, exc)
