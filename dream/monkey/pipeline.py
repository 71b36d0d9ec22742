"""The steps a CI/CD job is made of, shared by monkey's jobs and the fixtures that deploy without git.

Each step talks to tns and hoarder through their clients (`dream.clients`) and writes its progress to `log`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dream.clients import Clients
from dream.clients.tns import PublishedConfig
from dream.errors import DreamError
from dream.settings import cache_home

Log = Callable[[str], None]
CONFIG_WAIT = 60.0
BUILD_TIMEOUT = 600.0


@dataclass(frozen=True)
class Target:
    """One resource a code (or website, library) repository builds."""

    id: str
    label: str  # `functions/ping`, `websites/site`
    directory: Path


async def publish_config(
    clients: Clients, src: Path, *, branch: str, commit: str, project_id: str | None, universe: str, log: Log
) -> Any:
    """Compile the config repository at `src` and publish it; CompileError when it does not compile."""
    from dream.tcc.compiler import compile_project
    from dream.tcc.publish import publish_plan

    compiled = await asyncio.to_thread(
        compile_project,
        src,
        branch=branch,
        commit=commit,
        project_id=project_id,
        generated_domain_re=rf"^[^.]+\.g\.{universe}\.localtau$",
    )
    plan = publish_plan(compiled, branch=branch, commit=commit, project_id=compiled.project_id)
    await clients.tns.push_many(plan)
    functions = len(compiled.object.get("functions") or {})
    log(
        f"published config {commit[:12]} of project {compiled.project_id}: {len(plan)} tns entries, {functions} function(s)"
    )
    return compiled


async def published_config(
    clients: Clients,
    project_id: str,
    branch: str,
    *,
    log: Log,
    wait: float = CONFIG_WAIT,
    every: float = 0.2,
) -> PublishedConfig:
    """The project's current compiled config on `branch`, waiting a while for it to be published
    (asking tns every `every` seconds)."""
    deadline = time.monotonic() + wait
    said = False
    while True:
        obj = await clients.tns.published_config(project_id, branch)
        if obj is not None:
            return obj
        if time.monotonic() > deadline:
            raise DreamError(
                f"the config of project {project_id} was never published on branch {branch}: "
                f"push the config repository first"
            )
        if not said:
            log("waiting for the project's config to be published")
            said = True
        await asyncio.sleep(every)


def inline_targets(obj: dict[str, Any], src: Path) -> list[Target]:
    """Every function and smartop with inline code (`source: .`), with its directory in the code repo."""
    targets: list[Target] = []
    scopes: list[tuple[str | None, dict[str, Any]]] = [(None, obj)]
    scopes += [(app.get("name"), app) for app in (obj.get("applications") or {}).values()]
    for app, scope in scopes:
        base = src / app if app else src
        for kind in ("functions", "smartops"):
            for res_id, resource in (scope.get(kind) or {}).items():
                if resource.get("source", ".") in (".", ""):
                    targets.append(
                        Target(res_id, f"{kind}/{resource['name']}", base / kind / resource["name"])
                    )
    return targets


async def build_and_publish(
    clients: Clients,
    target: Target,
    *,
    project_id: str,
    branch: str,
    log: Log,
    cancel: threading.Event | None = None,
    baseline: bool = False,
) -> str:
    """Build one resource, stash its artefact and point its asset key at the CID; DreamError on failure.
    Setting `cancel` stops a build; a cancelled build is not published. `baseline`: compile it for
    the substrates with the fast baseline compiler (a working-copy save), not the optimizing one."""
    from dream.builders import build_function
    from dream.wasm.precompile import Compiled, compile_module

    if not target.directory.is_dir():
        raise DreamError(f"{target.label} has no code: expected the directory {target.directory}")
    log(f"building {target.label}")
    loop = asyncio.get_running_loop()
    compiling: list[concurrent.futures.Future[Compiled]] = []

    def compile_soon(wasm: bytes) -> None:
        # Called by the build as soon as the module exists: it compiles for the substrates on another
        # thread while the build zips it and the artefact is stored (each is ~0.2-1 s for Go).
        compiling.append(
            asyncio.run_coroutine_threadsafe(
                asyncio.to_thread(compile_module, wasm, target.label, baseline=baseline), loop
            )
        )

    result = await asyncio.to_thread(
        build_function,
        target.directory,
        cache_dir=cache_home() / "builds",
        log=log,
        timeout=BUILD_TIMEOUT,
        cancel=cancel,
        on_wasm=compile_soon,
    )
    if not result.ok or result.artifact is None:
        if compiling:
            await _settled(compiling[0])
        raise DreamError(f"{target.label} failed to build: {result.error}")
    if result.wasm is not None and not compiling:  # a build-cache hit: nothing compiled it yet
        compile_soon(result.wasm.read_bytes())
    data = result.artifact.read_bytes()
    try:
        cid = (await clients.hoarder.stash(data))["cid"]
    except BaseException:
        if compiling:
            await _settled(compiling[0])
        raise
    if compiling:
        # Compiled into the machine's AOT cache the substrates load from: the first request after the
        # deploy then finds a compiled module instead of paying a compile (over a second for Go), and a
        # module no substrate could load fails its build rather than its first request. (A failed build
        # leaves its stashed bytes unreferenced: nothing points at them.)
        compiled = await asyncio.wrap_future(compiling[0])
        compiled.name_build(cid)
        how = " (baseline compiler)" if baseline else ""
        log(f"compiled {target.label} for the substrates{how} in {compiled.seconds:.2f}s")
    if cancel is not None and cancel.is_set():
        raise DreamError(f"{target.label} was built, but the job was cancelled: it is not published")
    await clients.tns.publish_assets(project_id, branch, {target.id: cid})
    how = "from the build cache" if result.cached else f"in {result.duration:.2f}s"
    log(f"built {target.label} {how}: {len(data)} bytes, cid {cid}")
    return cid


async def _settled(future: concurrent.futures.Future[Any]) -> None:
    """Wait for a compile whose build failed, so none outlives its job; its outcome is not wanted."""
    with contextlib.suppress(Exception):
        await asyncio.wrap_future(future)
