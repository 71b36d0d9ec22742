"""Patrick's job store on a real SQLite file: the life of a job, cancel, retry, leases and re-queues."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from dream.errors import DreamError
from dream.node.store import KVStore
from dream.patrick.jobs import CANCELLED, FAILED, LOCKED, MAX_ATTEMPTS, OPEN, SUCCESS, JobStore


@pytest.fixture
def jobs(tmp_path: Path) -> JobStore:
    return JobStore(KVStore(tmp_path / "node.db"))


def new_job(jobs: JobStore, jid: str = "job-1") -> dict[str, Any]:
    job, created = jobs.create({"id": jid, "project": "p1", "meta": {"after": "c1"}})
    assert created
    return job


def finish(jobs: JobStore, job: dict[str, Any], status: str = SUCCESS, error: str = "") -> dict[str, Any]:
    return jobs.finish(
        job["id"], job["monkey"], job["lease"], status, logs={job["id"]: "log-cid"}, assets={}, error=error
    )


def test_a_job_is_handed_out_once_and_ends(jobs: JobStore) -> None:
    new_job(jobs)
    taken = jobs.dequeue("m1")
    assert taken is not None and (taken["status"], taken["monkey"], taken["attempt"]) == (LOCKED, "m1", 1)
    assert taken["lease"]
    assert jobs.dequeue("m2") is None
    assert jobs.heartbeat("job-1", "m1", taken["lease"])
    assert finish(jobs, taken)["status"] == SUCCESS
    assert jobs.by_project("p1")[0]["status"] == SUCCESS


def test_a_cancelled_queued_job_is_never_handed_out(jobs: JobStore) -> None:
    new_job(jobs)
    assert jobs.cancel("job-1")["status"] == CANCELLED
    assert jobs.dequeue("m1") is None
    with pytest.raises(DreamError, match="already ended"):
        jobs.cancel("job-1")
    with pytest.raises(DreamError, match="does not exist"):
        jobs.cancel("job-nope")


def test_a_cancelled_running_job_stops_its_monkey_and_keeps_its_log(jobs: JobStore) -> None:
    new_job(jobs)
    taken = jobs.dequeue("m1")
    assert taken is not None
    jobs.cancel("job-1")
    assert not jobs.heartbeat("job-1", "m1", taken["lease"])  # the monkey is told to stop
    reported = finish(jobs, taken, FAILED, "job cancelled: nothing more is published")
    assert reported["status"] == CANCELLED
    assert reported["logs"] == {"job-1": "log-cid"}
    assert reported["error"].startswith("job cancelled")


def test_retry_runs_a_failed_or_cancelled_job_again_with_fresh_attempts(jobs: JobStore) -> None:
    new_job(jobs)
    with pytest.raises(DreamError, match="only failed or cancelled"):
        jobs.retry("job-1")  # still open
    taken = jobs.dequeue("m1")
    assert taken is not None
    with pytest.raises(DreamError, match="only failed or cancelled"):
        jobs.retry("job-1")  # running
    finish(jobs, taken, FAILED, "compiler said no")
    again = jobs.retry("job-1")
    assert (again["status"], again["attempt"], again["error"], again["retried"]) == (OPEN, 0, "", 1)
    second = jobs.dequeue("m2")
    assert second is not None and (second["attempt"], second["monkey"]) == (1, "m2")
    assert finish(jobs, second)["status"] == SUCCESS
    with pytest.raises(DreamError, match="only failed or cancelled"):
        jobs.retry("job-1")  # succeeded


def test_an_earlier_attempt_cannot_speak_for_a_later_one(jobs: JobStore) -> None:
    """Cancelled, retried and handed to the same monkey again: the first attempt's heartbeat and report
    (the monkey may still be stopping it) do not count for the second."""
    new_job(jobs)
    first = jobs.dequeue("m1")
    assert first is not None
    jobs.cancel("job-1")
    jobs.retry("job-1")
    second = jobs.dequeue("m1")
    assert second is not None and second["lease"] != first["lease"]
    assert not jobs.heartbeat("job-1", "m1", first["lease"])
    with pytest.raises(DreamError, match="not assigned"):
        finish(jobs, first, FAILED, "job cancelled")
    assert jobs.heartbeat("job-1", "m1", second["lease"])
    assert finish(jobs, second)["status"] == SUCCESS


def test_a_silent_monkeys_job_is_queued_again_then_failed(jobs: JobStore) -> None:
    new_job(jobs)
    leases = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        taken = jobs.dequeue(f"m{attempt}")
        assert taken is not None and taken["attempt"] == attempt
        leases.append(taken["lease"])
        assert jobs.reannounce(silent_after=60, live_monkeys=set()) == ["job-1"]  # its monkey is gone
        # The monkey that lost the job is told to stop at its next heartbeat.
        assert not jobs.heartbeat("job-1", f"m{attempt}", taken["lease"])
    job = jobs.require("job-1")
    assert job["status"] == FAILED and "no attempts left" in job["error"]
    assert len(set(leases)) == MAX_ATTEMPTS


def test_a_deferred_job_keeps_its_attempt(jobs: JobStore) -> None:
    new_job(jobs)
    taken = jobs.dequeue("m1")
    assert taken is not None
    deferred = jobs.defer("job-1", "m1", taken["lease"], after=0, reason="config not published yet")
    assert (deferred["status"], deferred["attempt"], deferred["deferred"]) == (OPEN, 0, 1)
    with pytest.raises(DreamError, match="not assigned"):
        jobs.defer("job-1", "m1", taken["lease"], after=0, reason="twice")
    again = jobs.dequeue("m1")
    assert again is not None and again["attempt"] == 1


def test_next_ripe_is_when_the_first_queued_job_may_be_taken(jobs: JobStore) -> None:
    # A waiting dequeue sleeps until then instead of waking every few milliseconds to look.
    assert jobs.next_ripe() is None
    new_job(jobs)
    before = time.time()
    taken = jobs.dequeue("m1")
    assert taken is not None and jobs.next_ripe() is None
    jobs.defer(taken["id"], "m1", taken["lease"], after=30.0, reason="config not published")
    ripe = jobs.next_ripe()
    assert ripe is not None and before + 30.0 <= ripe <= time.time() + 30.0
    assert jobs.dequeue("m1") is None  # not ripe yet: its place stays
    assert jobs.next_ripe() == ripe
    new_job(jobs, "job-2")  # ripe at once: it comes first
    first = jobs.next_ripe()
    assert first is not None and first <= time.time()


def test_only_live_jobs_are_listed_live_through_their_life(jobs: JobStore) -> None:
    # `reannounce` runs once a second and reads only these: every job ever made would cost it more
    # with each build.
    job = new_job(jobs)
    assert [j["id"] for j in jobs.live()] == ["job-1"]
    taken = jobs.dequeue("m1")
    assert taken is not None and [j["status"] for j in jobs.live()] == [LOCKED]
    finish(jobs, taken, FAILED, "boom")
    assert jobs.live() == []
    jobs.retry(job["id"])
    assert [j["status"] for j in jobs.live()] == [OPEN]
    jobs.cancel(job["id"])
    assert jobs.live() == []
    assert [j["status"] for j in jobs.all()] == [CANCELLED]


def test_reannounce_queues_a_silent_monkeys_job_among_many_ended_ones(jobs: JobStore) -> None:
    for n in range(50):
        new_job(jobs, f"old-{n}")
        taken = jobs.dequeue("m1")
        assert taken is not None
        finish(jobs, taken)
    new_job(jobs, "silent")
    taken = jobs.dequeue("m2")
    assert taken is not None and taken["id"] == "silent"
    assert jobs.reannounce(silent_after=10.0, live_monkeys={"m2"}) == []
    assert jobs.reannounce(silent_after=10.0, live_monkeys={"m1"}) == ["silent"]
    assert [j["id"] for j in jobs.live()] == ["silent"] and jobs.live()[0]["status"] == OPEN


def test_a_store_made_before_the_live_list_gets_it_once(tmp_path: Path) -> None:
    kv = KVStore(tmp_path / "node.db")
    # Jobs as an older patrick left them: records and a queue, no live list.
    for jid, status in (("a", OPEN), ("b", LOCKED), ("c", SUCCESS), ("d", CANCELLED)):
        kv.put_json(f"/jobs/{jid}", {"id": jid, "status": status, "timestamp": ord(jid), "attempt": 1})
    jobs = JobStore(kv)
    assert [j["id"] for j in jobs.live()] == ["a", "b"]
    assert [j["id"] for j in JobStore(kv).live()] == ["a", "b"]  # built once, then kept
