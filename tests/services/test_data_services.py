"""tns, hoarder and auth as running nodes, called over their signed p2p APIs."""

from __future__ import annotations

import httpx
import pytest

from dream.hoarder.cid import cid_of
from dream.testing.harness import UniverseHandle

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
    with data.node_client() as http:
        seq = http.get(url(data, "tns", "/tns/stats")).json()["seq"]
        pushed = http.post(
            url(data, "tns", "/tns/push"),
            json={"path": "projects/p1/branches/main/current", "data": {"current": "c1"}},
        )
        assert pushed.json()["pushed"] is True
        fetched = http.post(url(data, "tns", "/tns/fetch"), json={"path": ["projects", "p1"]}).json()[
            "object"
        ]
        assert fetched == {"branches": {"main": {"current": {"current": "c1"}}}}
        many = http.post(
            url(data, "tns", "/tns/fetch-many"),
            json={"paths": ["projects/p1/branches/main/current", ["projects", "nope"]]},
        ).json()
        assert many == {"objects": [{"current": "c1"}, None]}
        bad_many = http.post(url(data, "tns", "/tns/fetch-many"), json={"paths": "projects"})
        assert bad_many.status_code == 400 and "must be a list" in bad_many.json()["error"]
        keys = http.post(url(data, "tns", "/tns/lookup"), json={"prefix": "projects/p1"}).json()["keys"]
        assert keys == ["projects/p1/branches/main/current/current"]
        changes = http.get(url(data, "tns", "/tns/changes"), params={"after": seq, "wait": 1}).json()
        assert changes["changes"][-1][1] == "projects/p1/branches/main/current"
        refused = http.post(url(data, "tns", "/tns/push"), json={"path": "", "data": 1})
        assert refused.status_code == 400 and "needs at least one segment" in refused.json()["error"]
    assert httpx.post(url(data, "tns", "/tns/fetch"), json={"path": "projects"}).status_code == 401


def test_hoarder_stash_replicates_to_a_second_hoarder(data: UniverseHandle) -> None:
    blob = b"\0asm" + bytes(range(200))
    cid = cid_of(blob)
    hoarders = [n for n in data.nodes() if n["name"].startswith("hoarder@")]
    assert len(hoarders) == 2
    with data.node_client() as http:
        stashed = http.post(
            url(data, "hoarder", "/hoarder/stash"), content=blob, headers={"x-cid": cid}
        ).json()
        assert stashed["cid"] == cid and len(stashed["replicas"]) == 2
        for node in hoarders:
            got = http.get(f"http://127.0.0.1:{node['value']['p2p']}/hoarder/blob/{cid}")
            assert got.status_code == 200 and got.content == blob
        wrong = http.post(url(data, "hoarder", "/hoarder/stash"), content=b"other", headers={"x-cid": cid})
        assert wrong.status_code == 400 and wrong.json()["error"].startswith("cid mismatch")
        assert http.get(url(data, "hoarder", f"/hoarder/blob/{cid_of(b'nope')}")).status_code == 404


def test_auth_repositories_projects_hooks_and_domains(data: UniverseHandle) -> None:
    with data.node_client() as http:
        config = http.post(
            url(data, "auth", "/auth/repositories"), json={"id": "1001", "fullname": "me/tb_demo"}
        ).json()
        code = http.post(
            url(data, "auth", "/auth/repositories"), json={"id": "1002", "fullname": "me/tb_code_demo"}
        ).json()
        assert config["hook"]["secret"] and config["key"].startswith("dream-deploy-")
        project = http.post(
            url(data, "auth", "/auth/projects"),
            json={"id": "QmDemo", "name": "demo", "config": "1001", "code": "1002"},
        ).json()
        assert project == {
            "id": "QmDemo",
            "name": "demo",
            "provider": "github",
            "config": "1001",
            "code": "1002",
        }
        hook = http.get(url(data, "auth", f"/auth/hooks/{code['hook']['id']}")).json()
        assert hook["repository"] == "1002" and hook["secret"] == code["hook"]["secret"]
        assert http.get(url(data, "auth", "/auth/repositories/1002")).json()["project"] == "QmDemo"
        again = http.post(
            url(data, "auth", "/auth/projects"),
            json={"id": "QmDemo", "name": "x", "config": "1001", "code": "1002"},
        )
        assert again.status_code == 400 and "already exists" in again.json()["error"]
        missing = http.post(
            url(data, "auth", "/auth/projects"),
            json={"id": "QmOther", "name": "x", "config": "9", "code": "1002"},
        )
        assert "is not registered" in missing.json()["error"]
        domain = http.post(
            url(data, "auth", "/auth/domains"), json={"fqdn": "hal.computers.com", "project": "QmDemo"}
        ).json()
        assert domain["project"] == "QmDemo" and domain["token"]
    public = httpx.get(f"http://127.0.0.1:{data.port('auth')}/repositories").json()["repositories"]
    assert {r["id"] for r in public} >= {"1001", "1002"} and all("hook" not in r for r in public)


def test_fake_project_fixture_publishes_the_builtin_config(data: UniverseHandle) -> None:
    result = data.client.fixture(data.name, "fakeProject", [])["result"]
    assert result["project"] == "QmFakeProjectBui1tIntoDreamForFixtureTests001"
    with data.node_client() as http:
        current = http.post(
            url(data, "tns", "/tns/fetch"),
            json={"path": f"projects/{result['project']}/branches/main/current"},
        )
        assert current.json()["object"] == {"current": "testCommit"}
        links = http.post(
            url(data, "tns", "/tns/fetch"), json={"path": "http/functions/com/computers/hal/links"}
        ).json()
        assert len(links["object"]) == 6
