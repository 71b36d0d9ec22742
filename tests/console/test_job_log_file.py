"""A job's live log file: written by monkey's `LiveLog` a line at a time, read by the daemon from an
offset at most JOB_LOG_CHUNK bytes at a time (docs/console.md, ### A build's log while it runs)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dream.daemon.console.job_log import JOB_LOG_CHUNK, read_slice
from dream.monkey.live_log import LiveLog, job_log_path


def test_a_log_one_byte_past_the_chunk_is_read_in_two(tmp_path: Path) -> None:
    path = job_log_path(tmp_path, "job-00ff")
    LiveLog(path).write(["x" * JOB_LOG_CHUNK])  # the chunk, and its newline one byte past it
    first, at_end = read_slice(path, 0)
    assert (len(first), at_end) == (JOB_LOG_CHUNK, False)
    rest, at_end = read_slice(path, JOB_LOG_CHUNK)
    assert (rest, at_end) == (b"\n", True)
    assert read_slice(path, JOB_LOG_CHUNK + 1) == (b"", True)


def test_lines_written_from_two_threads_stay_whole(tmp_path: Path) -> None:
    live = LiveLog(job_log_path(tmp_path, "job-01"))

    def write(tag: str) -> None:
        for number in range(500):
            live.write([f"{tag} {number} " + "." * 200])

    threads = [threading.Thread(target=write, args=(tag,)) for tag in ("builder", "job")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = job_log_path(tmp_path, "job-01").read_text().splitlines()
    assert len(lines) == 1000 and all(line.endswith("." * 200) and line.count(" ") == 2 for line in lines)


@pytest.mark.parametrize("bad", ["../job-1", "job-1/../../x", "passwd", "job-xyz", ""])
def test_only_patricks_job_ids_make_a_file_name(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="is not a job id"):
        job_log_path(tmp_path, bad)
