"""A build job's log, read from a byte offset while the job runs: the file its monkey appends to
(`dream.monkey.live_log`), or, for a job no monkey here has a file of, the log kept in hoarder when it
ended. Every reader (the dashboard's live view, `dream jobs JOB --follow`, MCP's `read_log`) asks again from
the offset it got until `done`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dream.clients import Clients, ServiceError
from dream.clients.patrick import FINISHED
from dream.daemon.universe import Universe
from dream.errors import DreamError
from dream.monkey.live_log import job_log_path
from dream.node.peers import PeerClient

# Most of a job's log one read returns (the reader asks again from the offset it got).
JOB_LOG_CHUNK = 1 << 20


def _live_file(universe: Universe, job_id: str) -> Path | None:
    """The newest log file of the job among the universe's monkeys (a retried job may move)."""
    found = []
    for record in universe.nodes.values():
        if record.config.name != "monkey":
            continue
        path = job_log_path(record.config.root_path, job_id)
        try:
            found.append((path.stat().st_mtime, path))
        except OSError:
            continue
    return max(found)[1] if found else None


def read_slice(path: Path, offset: int) -> tuple[bytes, bool]:
    """At most JOB_LOG_CHUNK bytes from `offset`, and whether they reach the end of the file."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if offset >= size:
            return b"", True
        fh.seek(offset)
        data = fh.read(JOB_LOG_CHUNK)
    return data, offset + len(data) >= size


async def read_job_log(
    universe: Universe, job_id: str, offset: int = 0, *, peers: PeerClient | None = None
) -> dict[str, Any]:
    """{job, status, error, offset (to ask from next), text, done}: `done` once the job has ended and
    `text` reaches the end of its log. A follower passes its own `peers`, kept between reads."""
    try:
        job_log_path(Path("."), job_id)
    except ValueError as exc:
        raise DreamError(f"{exc}: `dream jobs -u {universe.name}` lists the jobs") from None
    if offset < 0:
        raise DreamError(f"`offset` must be 0 or more bytes, got {offset}")
    own = peers is None
    client = universe.peer_client() if peers is None else peers
    try:
        clients = Clients(client)
        try:
            # Asked before the file is read: a job that has ended has written its last line.
            job = await clients.patrick.job(job_id)
        except ServiceError as exc:
            if exc.status not in (400, 404):  # patrick says 400 for a job it does not have
                raise
            raise DreamError(
                f"no job `{job_id}` in universe `{universe.name}`: `dream jobs -u {universe.name}` lists the jobs"
            ) from None
        status = job.status or "open"
        path = _live_file(universe, job_id)
        if path is not None:
            data, at_end = read_slice(path, offset)
        else:
            cid = (job.logs or {}).get(job.id)
            blob = (await clients.hoarder.blob(cid) or b"") if cid else b""
            data, at_end = blob[offset : offset + JOB_LOG_CHUNK], offset + JOB_LOG_CHUNK >= len(blob)
    finally:
        if own:
            await client.close()
    return {
        "job": job.id,
        "status": status,
        "error": job.error or "",
        "offset": offset + len(data),
        "text": data.decode(errors="replace"),
        "done": status in FINISHED and at_end,
    }
