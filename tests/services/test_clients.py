"""The typed clients' own contracts: the job record's JSON, and the one error every client raises."""

from __future__ import annotations

import asyncio
import copy
import socket
from typing import Any

import pytest

from dream.clients import Clients, ServiceError
from dream.clients.patrick import HeadCommit, Job, PushedRepository, PushMeta
from dream.errors import DreamError
from dream.node.peers import PeerClient

MADE: dict[str, Any] = {
    "id": "job-0123456789abcdef01234567",
    "delivery": "d-1",
    "project": "QmProject",
    "branch": "main",
    "meta": {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": "ab" * 20,
        "head_commit": {"id": "ab" * 20, "message": "first"},
        "repository": {
            "id": "123456789",
            "provider": "github",
            "fullname": "me/tb_code_demo",
            "ssh_url": "",
            "uri": "http://127.0.0.1:1/me/tb_code_demo.git",
            "default_branch": "main",
            "pushed_at": 1700000000,
        },
    },
}


def test_a_job_made_by_patrick_is_the_record_it_always_stored() -> None:
    meta = MADE["meta"]
    job = Job(
        id=MADE["id"],
        delivery="d-1",
        project="QmProject",
        branch="main",
        meta=PushMeta(
            ref=meta["ref"],
            before=meta["before"],
            after=meta["after"],
            head_commit=HeadCommit(**meta["head_commit"]),
            repository=PushedRepository(**meta["repository"]),
        ),
    )
    # Only the fields set so far: patrick's store adds its bookkeeping itself.
    assert job.to_json() == MADE
    assert list(job.to_json()) == ["id", "delivery", "project", "branch", "meta"]
    assert job.commit == "ab" * 20 and job.repository.uri.endswith(".git")


def test_a_handed_out_job_round_trips_with_its_bookkeeping() -> None:
    handed = {
        **copy.deepcopy(MADE),
        "status": "locked",
        "attempt": 1,
        "timestamp": 1700000001.5,
        "logs": {},
        "assets": {},
        "monkey": "monkey-1",
        "lease": "0123abcd",
        "started": 1700000002.0,
        "heartbeat": 1700000002.0,
        "deferred": 2,
        "waiting": "config not published yet",
    }
    job = Job.from_json(handed)
    assert job.lease == "0123abcd" and job.deferred == 2 and job.finished is None
    assert job.to_json() == handed


def test_a_record_that_is_not_a_job_is_refused_by_name() -> None:
    broken = copy.deepcopy(MADE)
    del broken["meta"]["repository"]["id"]
    with pytest.raises(DreamError, match=r"not a job record.*'id'"):
        Job.from_json(broken)
    with pytest.raises(DreamError, match=r"not a job record.*'meta'"):
        Job.from_json({"id": "job-1"})


def test_a_service_error_names_the_service_the_route_and_the_status() -> None:
    refused = ServiceError("patrick", "GET", "/patrick/job/job-1", 400, "job `job-1` does not exist")
    assert str(refused) == "job `job-1` does not exist (patrick GET /patrick/job/job-1: HTTP 400)"
    assert isinstance(refused, DreamError) and not refused.not_found
    assert ServiceError("auth", "GET", "/auth/projects/x", 404, "not found").not_found


def test_a_service_no_node_runs_is_a_service_error_without_a_status() -> None:
    async def ask() -> None:
        peers = PeerClient(secret=b"k" * 32, peer="test", universe_id="u", universe="nowhere", registries=[])
        try:
            await Clients(peers).tns.fetch("projects")
        finally:
            await peers.close()

    with pytest.raises(ServiceError) as raised:
        asyncio.run(ask())
    assert raised.value.status is None and raised.value.service == "tns"
    assert str(raised.value) == (
        "no `tns` node is running in universe `nowhere` (tns POST /tns/fetch: no answer)"
    )


def test_a_registry_that_does_not_answer_is_named_rather_than_taken_for_no_node() -> None:
    with socket.socket() as closed:  # a port nothing listens on: refused at once
        closed.bind(("127.0.0.1", 0))
        registry = f"http://127.0.0.1:{closed.getsockname()[1]}"

    async def ask() -> None:
        peers = PeerClient(
            secret=b"k" * 32, peer="test", universe_id="u", universe="u1", registries=[registry]
        )
        try:
            await Clients(peers).hoarder.stash(b"data")
        finally:
            await peers.close()

    with pytest.raises(ServiceError) as raised:
        asyncio.run(ask())
    assert raised.value.status is None and raised.value.service == "hoarder"
    assert str(raised.value).startswith(
        f"no registry of universe `u1` answered within 10s when asked for its `hoarder` nodes (asked {registry}); "
        "is its seer (or the daemon) running?"
    )
