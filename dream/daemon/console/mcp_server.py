"""The daemon's MCP server (`/mcp`, streamable HTTP, the official `mcp` SDK): upstream's universe tools
and the tools that close the loop for an agent (create a project, push and wait for the builds, call a
function, read a node's log, list jobs, read the request inspector).

Imported on the first request to `/mcp` only (`routes/mcp.py`): the SDK and pydantic stay out of the
daemon's start-up. Tools run inside the daemon, on its own state and the typed clients; a tool that
fails answers an error result with the daemon's sentence.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import httpx
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from dream import projects
from dream.clients import Clients
from dream.clients.auth import Project as AuthProject
from dream.daemon.actions import FixtureContext, find
from dream.daemon.console import job_log, views
from dream.daemon.inspector import gather
from dream.daemon.multiverse import Multiverse
from dream.errors import DreamError

INSTRUCTIONS = """dream runs a whole simulated Taubyte cloud on this machine. A universe is one cloud (its
nodes: auth, tns, patrick, monkey, hoarder, substrate, gateway, ...). The loop: create_project (from a
template), push (builds it and waits), call_function (its host and path come from project_details), then
read_requests (what each call cost) and read_log (a node's log, or a build's, also while it runs) when
something is off."""

Universe = Annotated[str, Field(description="Universe name, e.g. `blackhole` (list_universes lists them)")]
ProjectArg = Annotated[str, Field(description="Project name or id (list_projects lists them)")]


T = TypeVar("T")


def sentences(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """A tool whose expected failures (bad input, a node that refuses) reach the client as their sentence:
    the SDK shows only a tool's `ToolError` messages, and hides other exceptions as crashes."""

    @functools.wraps(fn)
    async def tool(*args: Any, **kwargs: Any) -> T:
        try:
            return await fn(*args, **kwargs)
        except (DreamError, httpx.HTTPError) as exc:
            raise ToolError(str(exc) or type(exc).__name__) from None

    return tool


def build(multiverse: Multiverse) -> MCPServer:
    server: MCPServer = MCPServer(name="dream", instructions=INSTRUCTIONS)

    def universe_of(name: str) -> Any:
        return multiverse.get(name)

    async def find_project(universe: str, project: str) -> AuthProject:
        u = universe_of(universe)
        peers = u.peer_client()
        try:
            found = await Clients(peers).auth.projects()
        finally:
            await peers.close()
        match = [p for p in found if project in (p["name"], p["id"])]
        if not match:
            names = ", ".join(sorted(p["name"] for p in found)) or "none yet"
            raise DreamError(f"no project `{project}` in universe `{u.name}` (projects: {names})")
        return match[0]

    # -- upstream's universe tools --------------------------------------------------------------------

    @server.tool(description="List the universes: name, id, state (running, stopped), nodes and nodes up.")
    @sentences
    async def list_universes() -> list[dict[str, Any]]:
        return views.universes(multiverse)

    @server.tool(
        description="A universe's status: its id, state, nodes with their state (up, starting, restarting, "
        "down and why), pid, restarts; and its services with their copies."
    )
    @sentences
    async def universe_status(universe: Universe) -> dict[str, Any]:
        return dict(universe_of(universe).status())

    @server.tool(
        description="Create and start a universe (returns once every node is ready, ~10 s). `shape` names a "
        "shape of universes/*.yaml (default: `default`, every service); `keep` keeps its data on disk "
        "after it stops, so start_universe can bring it back."
    )
    @sentences
    async def create_universe(
        universe: Universe,
        shape: Annotated[str, Field(description="Shape name, e.g. `default`")] = "",
        keep: Annotated[bool, Field(description="Keep its data after it stops")] = False,
    ) -> dict[str, Any]:
        from dream.shapes import load_shape

        made = await multiverse.create(universe, load_shape(shape) if shape else None, keep=keep)
        return {"universe": made.name, "id": made.id, "nodes": len(made.nodes)}

    @server.tool(
        description="Start a universe that was kept (`keep`) and stopped, with its stored shape and data."
    )
    @sentences
    async def start_universe(universe: Universe) -> dict[str, Any]:
        name = universe.lower()
        if name not in multiverse.kept():
            raise DreamError(
                f"no kept universe `{name}` to start (kept: {', '.join(multiverse.kept()) or 'none'}); "
                "create_universe makes a new one"
            )
        made = await multiverse.create(name, None, keep=True)
        return {"universe": made.name, "id": made.id, "nodes": len(made.nodes)}

    @server.tool(
        description="Stop a running universe: every node stops; a kept universe keeps its data on disk."
    )
    @sentences
    async def stop_universe(universe: Universe) -> dict[str, Any]:
        await multiverse.destroy(universe)
        return {"stopped": universe.lower()}

    @server.tool(description="Delete a universe: stop it if it runs, and remove its data, kept or not.")
    @sentences
    async def delete_universe(universe: Universe) -> dict[str, Any]:
        name = universe.lower()
        running = name in multiverse.universes
        kept = multiverse.home / f"universe-{name}"
        if not running and not kept.is_dir():
            raise DreamError(f"universe `{name}` does not exist")
        if running:
            await multiverse.destroy(name)
        if kept.is_dir():
            shutil.rmtree(kept, ignore_errors=True)
        return {"deleted": name}

    @server.tool(
        description="The projects of a universe: id, name, and their config and code repository ids."
    )
    @sentences
    async def list_projects(universe: Universe) -> list[dict[str, Any]]:
        peers = universe_of(universe).peer_client()
        try:
            return [dict(p) for p in await Clients(peers).auth.projects()]
        finally:
            await peers.close()

    @server.tool(
        description="A project's details: its repositories with clone URLs, whether its config is "
        "published, and its functions with method, host (fqdn), path and a curl line."
    )
    @sentences
    async def project_details(universe: Universe, project: ProjectArg) -> dict[str, Any]:
        found = await find_project(universe, project)
        u = universe_of(universe)
        peers = u.peer_client()
        try:
            return await projects.describe(
                peers, found, branch=multiverse.branches[0], state_dir=u.root / "projects"
            )
        finally:
            await peers.close()

    @server.tool(
        description="Disk used by universes, in bytes: one universe, or every one (running or kept)."
    )
    @sentences
    async def disk_usage(
        universe: Annotated[str, Field(description="Universe name; empty for every universe")] = "",
    ) -> dict[str, int]:
        if universe:
            u = multiverse.universes.get(universe.lower())
            root = u.root if u is not None else multiverse.home / f"universe-{universe.lower()}"
            if not Path(root).is_dir():
                raise DreamError(f"universe `{universe.lower()}` does not exist")
            return {universe.lower(): views.disk_usage(root)}
        sizes = {name: views.disk_usage(u.root) for name, u in multiverse.universes.items()}
        for name in multiverse.kept():
            sizes.setdefault(name, views.disk_usage(multiverse.home / f"universe-{name}"))
        return sizes

    # -- the loop ------------------------------------------------------------------------------------

    @server.tool(
        description="Create a project from a template (what `dream new project` does): its config and code "
        "repositories on the universe's git host, working copies on disk, webhooks to patrick. Push it next."
    )
    @sentences
    async def create_project(
        universe: Universe,
        name: Annotated[str, Field(description="Project name: lower-case letters, digits, - and _")],
        template: Annotated[str, Field(description="Template, e.g. `ping_pong`")] = "ping_pong",
        language: Annotated[
            str, Field(description="Language of its function: go, rust, assemblyscript, zig, c or wat")
        ] = "go",
        path: Annotated[
            str, Field(description="Absolute folder for its working copies (default: in the dream home)")
        ] = "",
    ) -> dict[str, Any]:
        u = universe_of(universe)
        folder = Path(path) if path else multiverse.home / "projects" / u.name / name
        peers = u.peer_client()
        try:
            return await projects.create(
                peers,
                universe=u.name,
                name=name,
                path=folder,
                template=template,
                lang=language,
                owner="dream",
                state_dir=u.root / "projects",
            )
        finally:
            await peers.close()

    @server.tool(
        description="Push a project's repositories (push-all), or one repository (push-specific), and wait "
        "for their builds. Returns each build's status and duration; a failed build comes with `error` and "
        "the last lines of its log (`log_tail`)."
    )
    @sentences
    async def push(
        universe: Universe,
        project: ProjectArg,
        repository: Annotated[
            str,
            Field(description="Only this repository (`owner/name`, e.g. `dream/tb_code_demo`); empty: all"),
        ] = "",
        branch: Annotated[str, Field(description="Branch (default main)")] = "",
    ) -> dict[str, Any]:
        u = universe_of(universe)
        found = await find_project(universe, project)
        if repository:
            described = await project_details(universe, project)
            repos = {r["full_name"]: r["id"] for r in described["repositories"].values()}
            if repository not in repos:
                raise DreamError(
                    f"project `{found['name']}` has no repository `{repository}` (its repositories: "
                    f"{', '.join(sorted(repos))})"
                )
            chosen = find("pushSpecific")
            params = [str(repos[repository]), repository, found["id"], branch, ""]
        else:
            chosen = find("pushAll")
            params = [found["id"], branch, ""]
        result = await chosen.run(FixtureContext(multiverse, u), chosen.bind(params))
        jobs = result.get("jobs", []) if isinstance(result, dict) else []
        failed = [j for j in jobs if j.get("status") != "success"]
        return {"ok": not failed, "builds": jobs, "failed": len(failed)}

    @server.tool(
        description="Call a function: one HTTP request through the gateway (or straight to a substrate) with "
        "the function's host (its fqdn, from project_details). Returns status, headers, body (at most 64 KiB), "
        "its size and the time it took."
    )
    @sentences
    async def call_function(
        universe: Universe,
        host: Annotated[
            str, Field(description="The function's domain (fqdn), e.g. `abcd1234.blackhole.localtau`")
        ],
        path: Annotated[str, Field(description="URL path, starting with /, with any query")] = "/",
        method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET",
        headers: Annotated[dict[str, str] | None, Field(description="Request headers by name")] = None,
        body: Annotated[str, Field(description="Request body (text)")] = "",
        via: Literal["gateway", "substrate"] = "gateway",
    ) -> dict[str, Any]:
        return await views.call_function(
            universe_of(universe),
            via=via,
            method=method,
            host=host,
            path=path,
            headers=list((headers or {}).items()),
            body=body.encode(),
        )

    @server.tool(
        description="Read a log from a byte offset (at most 1 MiB a read): a node's (`node`: a name such as "
        "`substrate` or `patrick`, `name-<index>` or a node id) or a build job's (`job`, from list_jobs; also "
        "while the job runs). Call again with the returned `offset` to follow it. A node's answer is "
        "{node, id, offset, text}; a job's is {job, status, error, offset, text, done}, `done` once the job "
        "has ended and its last line was read."
    )
    @sentences
    async def read_log(
        universe: Universe,
        node: Annotated[
            str, Field(description="Node: service or simple name, name-<index>, or node id")
        ] = "",
        job: Annotated[str, Field(description="Build job id (`job-<hex>`, from list_jobs)")] = "",
        offset: Annotated[int, Field(ge=0, description="Byte offset to read from (0: the start)")] = 0,
    ) -> dict[str, Any]:
        if bool(node) == bool(job):
            raise DreamError("name either a `node` or a `job` (list_jobs lists the jobs) to read the log of")
        if job:
            return await job_log.read_job_log(universe_of(universe), job, offset)
        return views.read_log(universe_of(universe), node, offset)

    @server.tool(
        description="The universe's build jobs, newest first: id, repository, commit, status (open, locked, "
        "success, failed, cancelled), duration in seconds and error."
    )
    @sentences
    async def list_jobs(universe: Universe) -> list[dict[str, Any]]:
        return await views.jobs(universe_of(universe))

    @server.tool(
        description="The request inspector: the last requests the universe's substrates and gateways served, "
        "oldest first, each with method, host, path, status, total/gateway/instantiate/wasm time in ms, "
        "memory pages, host calls by name, body bytes in and out, function, substrate and gateway."
    )
    @sentences
    async def read_requests(
        universe: Universe,
        function: Annotated[str, Field(description="Only the calls of this function (its name)")] = "",
        since: Annotated[float, Field(ge=0, description="Only records newer than this (epoch seconds)")] = 0,
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many (the newest)")] = 50,
    ) -> dict[str, Any]:
        return await gather(universe_of(universe), since=since, function=function, limit=limit)

    return server
