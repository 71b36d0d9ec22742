"""tns, hoarder and auth as running nodes, called over their signed p2p APIs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dream.clients import Clients, ServiceError, auth, hoarder, tns
from dream.hoarder.cid import cid_of
from dream.testing.harness import UniverseHandle
from tests.services.node_clients import call

pytestmark = pytest.mark.e2e

SHAPE = {
    "Services": {"tns": {}, "auth": {}, "hoarder": {"Others": {"copies": 2}}, "seer": {}},
    "Simples": {},
}


@pytest.fixture(scope="module")
def data(module_universe_factory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    return module_universe_factory("data", config=SHAPE)


def url(universe: UniverseHandle, service: str, path: str) -> str:
    return f"http://127.0.0.1:{universe.port(service, 'p2p')}{path}"


def test_tns_push_fetch_lookup_and_changes(data: UniverseHandle) -> None:
    async def use(clients: Clients) -> dict[str, Any]:
        client = clients.tns
        seq = (await client.stats())["seq"]
        pushed = await client.push("projects/p1/branches/main/current", {"current": "c1"})
        return {
            "pushed": pushed,
            "seq": seq,
            "fetched": await client.fetch(["projects", "p1"]),
            "many": await client.fetch_many(["projects/p1/branches/main/current", "projects/nope"]),
            "keys": await client.lookup("projects/p1"),
            "changes": await client.changes(seq, wait=1),
            "config": await client.published_config("p1", "main"),
        }

    got = call(data, use)
    assert got["pushed"] > got["seq"]
    assert got["fetched"] == {"branches": {"main": {"current": {"current": "c1"}}}}
    assert got["many"] == [{"current": "c1"}, None]
    assert got["keys"] == ["projects/p1/branches/main/current/current"]
    assert got["changes"]["changes"][-1][1] == "projects/p1/branches/main/current"
    assert got["config"] is None  # a current commit, but no compiled config under it
    with pytest.raises(ServiceError) as refused:
        call(data, lambda clients: clients.tns.push("", 1))
    assert refused.value.status == 400 and "needs at least one segment" in str(refused.value)
    assert "tns POST /tns/push: HTTP 400" in str(refused.value)
    # Malformed on purpose: what no client sends.
    with data.node_client() as http:
        bad_many = http.post(url(data, "tns", tns.FETCH_MANY), json={"paths": "projects"})
        assert bad_many.status_code == 400 and "must be a list" in bad_many.json()["error"]
    assert httpx.post(url(data, "tns", tns.FETCH), json={"path": "projects"}).status_code == 401


def test_hoarder_stash_replicates_to_a_second_hoarder(data: UniverseHandle) -> None:
    blob = b"\0asm" + bytes(range(200))
    cid = cid_of(blob)
    hoarders = [n for n in data.nodes() if n["name"].startswith("hoarder@")]
    assert len(hoarders) == 2
    stashed = call(data, lambda clients: clients.hoarder.stash(blob, cid=cid))
    assert stashed["cid"] == cid and len(stashed["replicas"]) == 2
    with data.node_client() as http:
        for node in hoarders:  # each hoarder on its own: the client asks any one
            got = http.get(f"http://127.0.0.1:{node['value']['p2p']}{hoarder.BLOB.format(cid=cid)}")
            assert got.status_code == 200 and got.content == blob
    with pytest.raises(ServiceError) as wrong:
        call(data, lambda clients: clients.hoarder.stash(b"other", cid=cid))
    assert wrong.value.status == 400 and wrong.value.message.startswith("cid mismatch")
    assert call(data, lambda clients: clients.hoarder.blob(cid)) == blob
    assert call(data, lambda clients: clients.hoarder.blob(cid_of(b"nope"))) is None


def test_auth_repositories_projects_hooks_and_domains(data: UniverseHandle) -> None:
    async def use(clients: Clients) -> dict[str, Any]:
        client = clients.auth
        config = await client.register_repository("1001", "me/tb_demo")
        code = await client.register_repository("1002", "me/tb_code_demo")
        project = await client.create_project("QmDemo", "demo", config="1001", code="1002")
        return {
            "config": config,
            "code": code,
            "project": project,
            "hook": await client.hook(code["hook"]["id"]),
            "repository": await client.repository("1002"),
            "domain": await client.register_domain("hal.computers.com", "QmDemo"),
            "projects": await client.projects(),
        }

    got = call(data, use)
    assert got["config"]["hook"]["secret"] and got["config"]["key"].startswith("dream-deploy-")
    assert got["project"] == {
        "id": "QmDemo",
        "name": "demo",
        "provider": "github",
        "config": "1001",
        "code": "1002",
    }
    assert got["projects"] == [got["project"]]
    assert got["hook"]["repository"] == "1002" and got["hook"]["secret"] == got["code"]["hook"]["secret"]
    assert got["repository"]["project"] == "QmDemo"
    assert got["domain"]["project"] == "QmDemo" and got["domain"]["token"]
    with pytest.raises(ServiceError) as again:
        call(data, lambda clients: clients.auth.create_project("QmDemo", "x", config="1001", code="1002"))
    assert again.value.status == 400 and "already exists" in again.value.message
    with pytest.raises(ServiceError) as missing:
        call(data, lambda clients: clients.auth.create_project("QmOther", "x", config="9", code="1002"))
    assert "is not registered" in missing.value.message
    with pytest.raises(ServiceError) as unknown:
        call(data, lambda clients: clients.auth.repository("999"))
    assert unknown.value.not_found and f"auth GET {auth.REPOSITORY.format(id=999)}" in str(unknown.value)
    public = httpx.get(f"http://127.0.0.1:{data.port('auth')}/repositories").json()["repositories"]
    assert {r["id"] for r in public} >= {"1001", "1002"} and all("hook" not in r for r in public)


def test_fake_project_fixture_publishes_the_builtin_config(data: UniverseHandle) -> None:
    result = data.client.fixture(data.name, "fakeProject", [])["result"]
    assert result["project"] == "QmFakeProjectBui1tIntoDreamForFixtureTests001"
    current = call(data, lambda clients: clients.tns.current_commit(result["project"], "main"))
    assert current == "testCommit"
    links = call(data, lambda clients: clients.tns.fetch("http/functions/com/computers/hal/links"))
    assert len(links) == 6
