"""A job's log, written while the job runs: one file per job in its monkey's folder, a line appended as
soon as the builder prints it, so the daemon can follow a build before it ends. (When the job ends, its
monkey also keeps the attempt's whole log in hoarder, where patrick's job record points.)"""

from __future__ import annotations

import re
import threading
from pathlib import Path

JOB_LOGS_DIR = "jobs"
# Patrick's job ids (`job-<24 hex>`); anything else is never a file name.
JOB_ID = re.compile(r"job-[0-9a-f]{1,64}")


def job_log_path(node_root: Path, job_id: str) -> Path:
    """Where the monkey whose folder is `node_root` writes the log of job `job_id`."""
    if not JOB_ID.fullmatch(job_id):
        raise ValueError(f"`{job_id}` is not a job id (job-<hex>)")
    return node_root / JOB_LOGS_DIR / f"{job_id}.log"


class LiveLog:
    """Appends lines to a job's log file. The builder's output thread and the job's own coroutine both
    write, so a lock keeps lines whole; the file is opened per write, so no handle outlives the job."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, lines: list[str]) -> None:
        if self.path is None or not lines:
            return
        data = "".join(f"{line}\n" for line in lines).encode(errors="replace")
        with self._lock, open(self.path, "ab") as fh:
            fh.write(data)
