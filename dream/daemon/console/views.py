"""What the dashboard shows, gathered from the daemon's own state and the universe's nodes (through the
typed clients): plain dicts the pages render."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from dream import projects
from dream.clients import Clients, ServiceError
from dream.daemon.inspector import gather
from dream.daemon.multiverse import Multiverse
from dream.daemon.universe import Universe
from dream.errors import DreamError

# Most jobs the builds list shows (the newest).
JOBS_SHOWN = 30
# Lines of a job's log the builds list shows.
LOG_LINES = 200


def _boot_time() -> float:
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


_BOOT = _boot_time()
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def uptime(pid: int | None) -> float | None:
    """Seconds since the process `pid` started (None when unknown)."""
    if not pid or not _BOOT:
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return max(0.0, time.time() - (_BOOT + int(fields[19]) / _TICKS))


def universes(multiverse: Multiverse) -> list[dict[str, Any]]:
    found = []
    for name, universe in sorted(multiverse.universes.items()):
        nodes = universe.nodes.values()
        found.append(
            {
                "name": name,
                "id": universe.id,
                "state": universe.state,
                "nodes": len(nodes),
                "up": sum(1 for r in nodes if r.state == "up"),
                "keep": universe.keep,
            }
        )
    running = {u["name"] for u in found}
    for name in multiverse.kept():
        if name not in running:
            found.append({"name": name, "id": "", "state": "stopped", "nodes": 0, "up": 0, "keep": True})
    return found


def nodes(universe: Universe) -> list[dict[str, Any]]:
    shown = []
    for node in universe.graph()["nodes"]:
        shown.append({**node, "uptime": uptime(node.get("pid")) if node.get("alive") else None})
    return shown


async def project_list(universe: Universe, branch: str) -> list[dict[str, Any]]:
    """Every project with its repositories (clone URLs) and published functions (URLs)."""
    peers = universe.peer_client()
    try:
        found = await Clients(peers).auth.projects()
        described = []
        for project in sorted(found, key=lambda p: p["name"]):
            try:
                described.append(
                    await projects.describe(
                        peers, project, branch=branch, state_dir=universe.root / "projects"
                    )
                )
            except (DreamError, httpx.HTTPError) as exc:
                described.append({**project, "error": str(exc), "repositories": {}, "functions": []})
        return described
    finally:
        await peers.close()


async def jobs(universe: Universe) -> list[dict[str, Any]]:
    """The newest jobs first: {id, project, repository, status, started, finished, duration, error}."""
    peers = universe.peer_client()
    try:
        found = await Clients(peers).patrick.jobs()
    finally:
        await peers.close()
    shown = []
    for job in sorted(found, key=lambda j: j.timestamp or 0, reverse=True)[:JOBS_SHOWN]:
        end = job.finished or (time.time() if job.started else None)
        shown.append(
            {
                "id": job.id,
                "project": job.project,
                "repository": job.repository.fullname,
                "commit": job.commit[:8],
                "status": job.status or "open",
                "created": job.timestamp,
                "duration": (end - job.started) if (end and job.started) else None,
                "error": job.error or "",
                "has_log": bool(job.logs),
            }
        )
    return shown


async def job_log(universe: Universe, job_id: str) -> str:
    """The last LOG_LINES lines of a finished job's log (kept in hoarder)."""
    peers = universe.peer_client()
    try:
        clients = Clients(peers)
        try:
            job = await clients.patrick.job(job_id)
        except ServiceError as exc:
            raise DreamError(f"no job `{job_id}` in universe `{universe.name}`: {exc}") from None
        cid = (job.logs or {}).get(job.id)
        if not cid:
            return f"(job {job.status or 'open'}: its log is kept once it ends)"
        data = await clients.hoarder.blob(cid) or b""
    finally:
        await peers.close()
    return "\n".join(data.decode(errors="replace").splitlines()[-LOG_LINES:])


async def requests(universe: Universe, limit: int = 50) -> list[dict[str, Any]]:
    answer = await gather(universe, limit=limit)
    return list(reversed(answer["requests"]))
