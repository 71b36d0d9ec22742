"""What the dashboard shows, gathered from the daemon's own state and the universe's nodes (through the
typed clients): plain dicts the pages render."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import httpx

from dream import projects
from dream.clients import Clients
from dream.daemon.console.job_log import read_job_log
from dream.daemon.inspector import gather
from dream.daemon.multiverse import Multiverse
from dream.daemon.routes.logs import find_node
from dream.daemon.universe import Universe
from dream.errors import DreamError, json_type

# A function call from the dashboard or MCP: most of the answer's body returned, and how long it may take.
CALL_BODY_SHOWN = 64 * 1024
CALL_TIMEOUT = 30.0
CALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# Most of a node's log one read returns (the reader asks again from the offset it got).
LOG_CHUNK = 1 << 20
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
    """The universe's nodes (its graph's), with their uptime and the registries each links to (`hubs`)."""
    graph = universe.graph()
    hubs: dict[str, list[str]] = {}
    for link in graph["links"]:
        hubs.setdefault(link["source"], []).append(link["target"])
    return [
        {
            **node,
            "uptime": uptime(node.get("pid")) if node.get("alive") else None,
            "hubs": hubs.get(node["id"], []),
        }
        for node in graph["nodes"]
    ]


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


async def job_action(universe: Universe, job_id: str, action: str) -> dict[str, Any]:
    """Cancel or retry a job: {job, status}."""
    peers = universe.peer_client()
    try:
        patrick = Clients(peers).patrick
        if action == "cancel":
            job = await patrick.cancel(job_id)
        elif action == "retry":
            job = await patrick.retry(job_id)
        else:
            raise DreamError(f"no job action `{action}`: use cancel or retry")
    finally:
        await peers.close()
    return {"job": job.id, "status": job.status}


async def job_log(universe: Universe, job_id: str) -> str:
    """The last LOG_LINES lines of a job's log, also while it runs."""
    answer = await read_job_log(universe, job_id)
    if not answer["text"]:
        return f"(job {answer['status']}: no log line yet)"
    return "\n".join(answer["text"].splitlines()[-LOG_LINES:])


async def requests(universe: Universe, limit: int = 50) -> list[dict[str, Any]]:
    answer = await gather(universe, limit=limit)
    return list(reversed(answer["requests"]))


def header_lines(raw: Any) -> list[tuple[str, str]]:
    """Headers written one `Name: value` a line (the dashboard's form)."""
    if raw is None or raw == "":
        return []
    if not isinstance(raw, str):
        raise DreamError(f"`headers` must be text, one `Name: value` a line, got {json_type(raw)}")
    found = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or any(c in name for c in " \t"):
            raise DreamError(f"header line {number} `{line[:80]}` is not `Name: value`")
        found.append((name.strip(), value.strip()))
    return found


def _port(universe: Universe, via: str) -> int:
    for record in sorted(universe.nodes.values(), key=lambda r: r.config.index):
        if record.config.name == via and record.alive and "http" in record.config.ports:
            return record.config.ports["http"]
    raise DreamError(f"universe `{universe.name}` has no running {via} to send the call to")


async def call_function(
    universe: Universe,
    *,
    via: str,
    method: str,
    host: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> dict[str, Any]:
    """One request to a function, through the gateway or a substrate: {status, headers, body, body_bytes,
    truncated, time_ms, url}."""
    if via not in ("gateway", "substrate"):
        raise DreamError(f"`via` must be `gateway` or `substrate`, got `{via}`")
    method = method.upper()
    if method not in CALL_METHODS:
        raise DreamError(f"`method` must be one of {', '.join(CALL_METHODS)}, got `{method}`")
    if not host:
        raise DreamError("a call needs the function's `host` (its domain, e.g. abc0.u.localtau)")
    if not path.startswith("/"):
        raise DreamError(f"`path` must start with /, got `{path}`")
    url = f"http://127.0.0.1:{_port(universe, via)}{path}"
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=CALL_TIMEOUT) as client:
        try:
            answer = await client.request(method, url, headers=[("host", host), *headers], content=body)
        except httpx.HTTPError as exc:
            raise DreamError(f"{method} {url} (Host {host}) failed: {exc or type(exc).__name__}") from None
    spent = (time.perf_counter() - started) * 1000
    return {
        "status": answer.status_code,
        "headers": [[k, v] for k, v in answer.headers.items()],
        "body": answer.content[:CALL_BODY_SHOWN].decode(errors="replace"),
        "body_bytes": len(answer.content),
        "truncated": len(answer.content) > CALL_BODY_SHOWN,
        "time_ms": round(spent, 3),
        "url": url,
    }


def read_log(universe: Universe, node: str, offset: int) -> dict[str, Any]:
    """A node's log from byte `offset`: {node, id, offset (to ask from next), text}."""
    record = find_node(universe, node)
    data = b""
    try:
        with open(record.config.log_path, "rb") as fh:
            if offset < os.fstat(fh.fileno()).st_size:
                fh.seek(offset)
                data = fh.read(LOG_CHUNK)
    except FileNotFoundError:
        pass
    return {
        "node": record.config.label,
        "id": record.config.id,
        "offset": offset + len(data),
        "text": data.decode(errors="replace"),
    }


def disk_usage(path: Any) -> int:
    """Bytes of the files under `path` (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
