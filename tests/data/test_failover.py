"""Two hoarders: when the one that orders database writes goes down, the other takes over and writes go
on through it; the first, back, follows the new leader; no acknowledged write is lost on any substrate
or hoarder."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dream.clients.hoarder import space_id
from dream.testing.harness import UniverseHandle, wait_for
from tests.data.conftest import KV, SHAPE, substrates
from tests.data.test_databases import Writer, assert_none_lost, kill9_and_wait

pytestmark = pytest.mark.e2e

PROJECT = "QmDataKvProject000000000000000000000000000001"


def hoarders(universe: UniverseHandle) -> list[dict[str, Any]]:
    found = [n for n in universe.nodes() if n["name"].startswith("hoarder@")]
    return sorted(found, key=lambda n: n["name"])


def leadership(universe: UniverseHandle, node: dict[str, Any]) -> dict[str, Any] | None:
    """The hoarder's view of who leads (its health), None while it does not answer."""
    now = next(n for n in universe.nodes() if n["id"] == node["id"])
    if now["state"] != "up":
        return None
    with universe.node_client() as client:
        try:
            answer = client.get(f"http://127.0.0.1:{now['ports']['p2p']}/hoarder/db/leader", timeout=2)
        except httpx.HTTPError:  # paused, or restarting: not answering yet
            return None
    return dict(answer.json()) if answer.status_code == 200 else None


def more_acknowledged(writer: Writer, count: int, what: str) -> None:
    start = len(writer.acknowledged)
    wait_for(lambda: len(writer.acknowledged) >= start + count, what, timeout=90)


def assert_every_hoarder_holds(universe: UniverseHandle, db: str, keys: list[str]) -> None:
    space = space_id(PROJECT, None, db)
    with universe.node_client() as client:
        for node in hoarders(universe):

            def missing(node: dict[str, Any] = node) -> list[str]:
                now = next(n for n in universe.nodes() if n["id"] == node["id"])
                url = f"http://127.0.0.1:{now['ports']['p2p']}/hoarder/db/keys"
                held = set(client.get(url, params={"space": space, "prefix": "w"}).json()["keys"])
                return [k for k in keys if k not in held]

            wait_for(lambda: not missing(), f"{node['name']} to hold every acknowledged write", timeout=30)


def test_writes_go_on_through_the_second_hoarder_and_none_is_lost(module_universe_factory: Any) -> None:
    shape = {**SHAPE, "Services": {**SHAPE["Services"], "hoarder": {"Others": {"copies": 2}}}}
    universe: UniverseHandle = module_universe_factory("failover", config=shape)
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(KV), ""])
    one, other = substrates(universe)
    first, second = hoarders(universe)
    wait_for(lambda: (leadership(universe, first) or {}).get("leading"), "the first hoarder to lead")
    db = "/logs/failover"
    with Writer(one, db) as writer:
        more_acknowledged(writer, 20, "writes through the first hoarder")
        # Paused first, so that it is down long enough for the second to take over whatever the
        # daemon's restart takes; then killed during the writes (it restarts from its disk).
        universe.client.chaos_pause(universe.name, first["id"], 60)
        wait_for(
            lambda: (leadership(universe, second) or {}).get("leading"),
            "the second hoarder to take over",
            timeout=30,
        )
        more_acknowledged(writer, 20, "writes through the second hoarder")
        kill9_and_wait(universe, first)

        def follows_second() -> bool:
            back = leadership(universe, first)
            return back is not None and back["leader"] == second["id"] and not back["leading"]

        wait_for(follows_second, "the first hoarder, back, to follow the second", timeout=30)
        more_acknowledged(writer, 20, "writes after the first hoarder came back")
        # Now the leader (the second) is killed outright: whichever leads after, writes go on.
        kill9_and_wait(universe, second)
        more_acknowledged(writer, 20, "writes after the second hoarder was killed")
    assert writer.acknowledged
    assert_none_lost(one, db, writer.acknowledged)
    assert_none_lost(other, db, writer.acknowledged)
    assert_every_hoarder_holds(universe, db, writer.acknowledged)
    views = [leadership(universe, n) for n in hoarders(universe)]
    assert sum(1 for v in views if v and v["leading"]) == 1  # one leader, no split brain
