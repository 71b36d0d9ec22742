"""The substrates' `replicas` limit: the database keyspaces a substrate holds stay within it (the least
recently read are dropped), and a dropped one is read again from hoarder, whole, when next asked for."""

from __future__ import annotations

import pytest

from dream.testing.harness import UniverseHandle
from tests.data.conftest import REPLICAS, kv, substrates

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
