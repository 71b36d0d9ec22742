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
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dream.errors import DreamError
from dream.monkey import pipeline
from dream.monkey.checkout import ZERO, checkout
from dream.tcc import tns_keys

if TYPE_CHECKING:
    from dream.monkey.service import Service


# How long a code (website, library) job may wait, deferred, for its project's config to be published.
CONFIG_PATIENCE = 60.0
DEFER_SECONDS = 0.05
# After its checkout, how long a code job waits for a config being published (by a job running at the
# same time, usually) before it gives its place back to other jobs.
CONFIG_SOON = 1.0
CONFIG_POLL = 0.02


class NotReady(DreamError):
    """The job cannot run yet; patrick should queue it again (other jobs, like its config's, go first)."""


class Job:
    def __init__(self, node: Service, record: dict[str, Any]) -> None:
        self.node = node
        self.record = record
        self.id: str = record["id"]
        self.branch: str = record.get("branch") or "main"
        self.repository: dict[str, Any] = record["meta"]["repository"]
        self.lines: list[str] = []
        self.error = ""
        self.assets: dict[str, str] = {}
        self.stop = threading.Event()  # set when patrick says the job was cancelled (any thread may look)
        self.started = time.time()

    # -- log -----------------------------------------------------------------------------------------

    def log(self, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            self.lines.append(f"{time.time() - self.started:7.3f}s {line}")

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

    def holder(self) -> dict[str, str]:
        """Who runs this attempt, as patrick's heartbeat, defer and report calls take it."""
        return {"jid": self.id, "monkey": self.node.config.id, "lease": str(self.record.get("lease", ""))}

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
        return int(self.record.get("deferred", 0)) * (DEFER_SECONDS + CONFIG_SOON) < CONFIG_PATIENCE

    async def _config_or_defer(self, project_id: str) -> dict[str, Any]:
        try:
            return await pipeline.published_config(
                self.node.peers, project_id, self.branch, log=self.log, wait=CONFIG_SOON, every=CONFIG_POLL
            )
        except DreamError as exc:
            if self._patient():
                raise NotReady(f"waiting for the config of project {project_id}") from None
            raise DreamError(f"{exc} (waited {CONFIG_PATIENCE:.0f}s)") from None

    async def _run(self) -> None:
        repo_id = str(self.repository["id"])
        project_id = self.record.get("project") or ""
        self.log(
            f"job {self.id}: {self.repository.get('fullname', repo_id)} @ {self.record['meta']['after'][:12]} ({self.branch})"
        )
        if not project_id:
            repo = await self.node.peers.json("auth", "GET", f"/auth/repositories/{repo_id}")
            project_id = repo.get("project", "")
        if not project_id:
            self.fail(f"repository {repo_id} belongs to no project: create the project first")
            return
        project = await self.node.peers.json("auth", "GET", f"/auth/projects/{project_id}")
        kind = await self._kind(repo_id, project)
        self.log(f"project {project['name']} ({project_id}), {kind} repository")
        uri = self.repository.get("uri") or self.repository.get("ssh_url", "")
        commit = str(self.record["meta"].get("after") or "")
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
                    checkout, uri, self.branch, self.record["meta"]["after"], Path(tmp) / "src"
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
                    self.node.remember_build(repo_id, commit, self.assets)
            else:
                await self._single(src, project_id, repo_id, kind)

    async def _config_already_published(self, project_id: str, commit: str) -> bool:
        current = await pipeline.tns_fetch(self.node.peers, tns_keys.current_key(project_id, self.branch))
        if not (isinstance(current, dict) and current.get("current") == commit):
            return False
        compiled = await pipeline.tns_fetch(
            self.node.peers, tns_keys.project_prefix(self.branch, commit, project_id)
        )
        if not isinstance(compiled, dict):
            return False
        self.log(f"config {commit[:12]} is already the published config of this branch: nothing to do")
        return True

    async def _code_already_built(self, repo_id: str, commit: str, project_id: str) -> bool:
        """Re-publish the builds this monkey made of the same commit, if they cover the current config."""
        built = self.node.built.get((repo_id, commit))
        if built is None:
            return False
        try:
            obj = await pipeline.published_config(
                self.node.peers, project_id, self.branch, log=lambda _: None, wait=0
            )
        except DreamError:
            return False
        targets = pipeline.inline_targets(obj, Path("."))
        if not all(t.id in built for t in targets):
            return False
        await pipeline.tns_push_many(
            self.node.peers,
            [(tns_keys.asset_key(project_id, t.id, self.branch), built[t.id]) for t in targets],
        )
        for target in targets:
            self.assets[target.id] = built[target.id]
            self.log(
                f"built {target.label} from the build cache (commit {commit[:12]} was built): cid {built[target.id]}"
            )
        return True

    async def _kind(self, repo_id: str, project: dict[str, Any]) -> str:
        if repo_id == str(project.get("config")):
            return "config"
        if repo_id == str(project.get("code")):
            return "code"
        # A website or library repository is known from the published config, which may be being published
        # right now (push-all sends every repository's push at once): wait for it a little, then defer.
        roles = {tns_keys.REPO_TYPE_WEBSITE: "website", tns_keys.REPO_TYPE_LIBRARY: "library"}
        deadline = time.monotonic() + CONFIG_SOON
        while True:
            kind = await pipeline.tns_fetch(self.node.peers, tns_keys.repo_type_key(repo_id, project["id"]))
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
                self.node.peers,
                src,
                branch=self.branch,
                commit=commit,
                project_id=project_id,
                universe=self.node.config.universe,
                log=self.log,
            )
        except (CompileError, ConfigError) as exc:
            self.fail(f"config does not compile:\n{exc}")

    async def _code(self, src: Path, project_id: str, obj: dict[str, Any]) -> None:
        targets = pipeline.inline_targets(obj, src)
        if not targets:
            self.log("the config has no inline functions: nothing to build")
        for target in targets:
            self._go_on()
            await self._build(target, project_id)

    async def _single(self, src: Path, project_id: str, repo_id: str, kind: str) -> None:
        keys = await self.node.peers.json(
            "tns", "POST", "/tns/lookup", json={"prefix": tns_keys.repo_resources_prefix(repo_id, project_id)}
        )
        ids = sorted({k.rstrip("/").rsplit("/", 1)[-1] for k in keys["keys"]})
        if not ids:
            self.fail(f"no {kind} of project {project_id} is built from repository {repo_id}")
            return
        for res_id in ids:
            self._go_on()
            await self._build(pipeline.Target(res_id, f"{kind} {res_id}", src), project_id)

    async def _build(self, target: pipeline.Target, project_id: str) -> None:
        try:
            self.assets[target.id] = await pipeline.build_and_publish(
                self.node.peers,
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
        body = {
            **self.holder(),
            "after": DEFER_SECONDS,
            "reason": "config not published yet",
        }
        try:
            await self.node.peers.json("patrick", "POST", "/patrick/defer", json=body)
        except DreamError as exc:
            self.node.log.error("could not defer job %s: %s", self.id, exc)

    async def report(self) -> None:
        status = "failed" if self.error else "done"
        self.log(f"job {'failed' if self.error else 'succeeded'} in {time.time() - self.started:.2f}s")
        logs: dict[str, str] = {}
        try:
            logs[self.id] = await pipeline.stash(self.node.peers, "\n".join(self.lines).encode() + b"\n")
        except DreamError as exc:
            self.node.log.error("could not keep the log of job %s: %s", self.id, exc)
        body = {
            **self.holder(),
            "logs": logs,
            "assets": self.assets,
            "error": self.error,
        }
        try:
            await self.node.peers.json("patrick", "POST", f"/patrick/{status}", json=body)
        except DreamError as exc:
            self.node.log.error("could not report job %s to patrick: %s", self.id, exc)
