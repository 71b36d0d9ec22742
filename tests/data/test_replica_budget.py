"""The substrates' `replicas` and `replica_idle` limits: the database keyspaces a substrate holds stay
within the budget (the least recently read are dropped), one not read for `replica_idle` is dropped, and a
dropped one is read again from hoarder, whole, when next asked for."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dream.testing.harness import UniverseHandle, wait_for
from tests.data.conftest import REPLICA_IDLE, REPLICAS, kv, substrates

pytestmark = pytest.mark.e2e

VALUE = 100 * 1024  # six of these make a keyspace of 600 KiB: two pass the 1 MiB budget


def substrate_health(universe: UniverseHandle, url: str) -> dict[str, int]:
    node = next(
        n
        for n in universe.nodes()
        if n["name"].startswith("substrate@") and url.endswith(f":{n['value']['http']}")
    )
    with universe.node_client() as client:
        answer = client.get(f"http://127.0.0.1:{node['ports']['p2p']}/health").json()
    return dict(answer["databases"])


def test_replicas_past_the_budget_are_dropped_and_read_again(data: UniverseHandle) -> None:
    writer, reader = substrates(data)
    values = {
        db: {f"k{i}": bytes([65 + i]) * VALUE for i in range(6)} for db in ("/logs/evicta", "/logs/evictb")
    }
    for db, keys in values.items():
        for key, value in keys.items():
            assert kv(writer, "put", key, value, db=db).text == "put:0"
    before = substrate_health(data, reader)
    assert before["budget"] == REPLICAS
    for key, value in values["/logs/evicta"].items():
        assert kv(reader, "get", key, db="/logs/evicta").content == value
    for key, value in values["/logs/evictb"].items():  # 1.2 MiB with the first: past the budget
        assert kv(reader, "get", key, db="/logs/evictb").content == value
    after = substrate_health(data, reader)
    assert after["evicted"] > before["evicted"]
    assert after["held"] <= REPLICAS
    # The dropped keyspace is read again whole (loaded from hoarder), dropping the other in turn.
    for key, value in values["/logs/evicta"].items():
        assert kv(reader, "get", key, db="/logs/evicta").content == value
    again = substrate_health(data, reader)
    assert again["evicted"] > after["evicted"]
    assert again["held"] <= REPLICAS


def test_a_replica_not_read_for_replica_idle_is_dropped_and_read_again(data: UniverseHandle) -> None:
    from dream.clients.hoarder import space_id

    writer, reader = substrates(data)
    loaded = time.monotonic()
    assert kv(writer, "put", "quiet", b"still here", db="/logs/idle").text == "put:0"  # held by the writer
    assert kv(reader, "get", "quiet", db="/logs/idle").content == b"still here"  # and the reader
    space = space_id("QmDataKvProject000000000000000000000000000001", None, "/logs/idle")
    said = f"database replica {space} dropped (15 bytes): not read for 10s (the `replica_idle` limit)"

    def saying() -> int:  # the substrates that dropped it
        logs = Path(data.client.status()[data.name]["root"]).rglob("substrate*/node.log")
        return sum(said in p.read_text(errors="replace") for p in logs)

    wait_for(lambda: saying() == 2, "both substrates to drop the idle replica", timeout=REPLICA_IDLE * 4)
    assert time.monotonic() - loaded >= REPLICA_IDLE  # not before its time
    assert substrate_health(data, reader)["evicted_idle"] >= 1
    assert kv(reader, "get", "quiet", db="/logs/idle").content == b"still here"  # loaded again
