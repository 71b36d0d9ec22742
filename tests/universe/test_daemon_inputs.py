"""Bad input to every daemon route is a 400 in the documented shape whose sentence names the problem:
a body that is not JSON, fields of the wrong type, missing fields, bad query parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.daemon.inputs import MAX_OFFSET
from dream.node.security import UniverseAuth
from dream.shapes import MAX_COPIES, ServiceShape
from dream.testing.harness import DaemonProcess, UniverseHandle
from dream.testing.plugin import UniverseFactory

pytestmark = pytest.mark.e2e

SMALL = {"Services": {"tns": {}, "auth": {}}, "Simples": {}}
NOT_JSON = b'{"config": '


@pytest.fixture(scope="module")
def small(module_universe_factory: UniverseFactory) -> UniverseHandle:
    return module_universe_factory("inputs", config=SMALL)


def refused(
    daemon: DaemonProcess, method: str, path: str, body: Any = None, *, raw: bytes | None = None
) -> str:
    """The sentence of a 400 answer (asserting the status and the shape)."""
    content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    response = httpx.request(
        method,
        f"{daemon.url}{path}",
        content=content,
        headers={**daemon.auth(), "content-type": "application/json"},
    )
    assert response.status_code == 400, (method, path, response.status_code, response.text)
    answer = response.json()
    assert set(answer) == {"code", "error"} and answer["code"] == 400
    assert isinstance(answer["error"], str) and answer["error"]
    return str(answer["error"])


def still_fine(daemon: DaemonProcess, small: UniverseHandle) -> None:
    with daemon.client() as client:
        assert client.ping()
        universes = client.universes()
        assert universes[small.name]["state"] == "running"
        assert set(universes) <= {small.name, *(n for n in universes if n.startswith("session-"))}


def test_new_universe(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    path = "/universe/badinput"
    assert "the body of POST /universe/badinput is not valid JSON" in refused(
        dream_daemon, "POST", path, raw=NOT_JSON
    )
    assert "must be a JSON object, got a list" in refused(dream_daemon, "POST", path, [1, 2])
    sentence = refused(dream_daemon, "POST", path, {"config": "nonsense"})
    assert "`config` must be a JSON object like" in sentence and "'nonsense'" in sentence
    assert "`keep` must be true or false, got the string 'yes'" in refused(
        dream_daemon, "POST", path, {"keep": "yes"}
    )
    assert "`shape` must be a string, got the number 5" in refused(dream_daemon, "POST", path, {"shape": 5})
    assert "universe shape `nosuchshape` not found" in refused(
        dream_daemon, "POST", path, {"shape": "nosuchshape"}
    )

    def service(others: Any, **extra: Any) -> dict[str, Any]:
        return {"config": {"Services": {"tns": {"Others": others, **extra}}, "Simples": {}}}

    assert "`copies` of service `tns` must be a whole number from 1 to 100, got the string 'two'" in refused(
        dream_daemon, "POST", path, service({"copies": "two"})
    )
    assert "service `tns` needs at least 1 copy, got -1" in refused(
        dream_daemon, "POST", path, service({"copies": -1})
    )
    assert f"must be a whole number from 1 to {MAX_COPIES}, got the number {MAX_COPIES + 1}" in refused(
        dream_daemon, "POST", path, service({"copies": MAX_COPIES + 1})
    )
    assert "got the number 1.5" in refused(dream_daemon, "POST", path, service({"copies": 1.5}))
    assert "the http port of service `tns` must be a whole number from 0 to 65535, got the string '80'" in (
        refused(dream_daemon, "POST", path, service({"http": "80"}))
    )
    assert "got the number 70000" in refused(dream_daemon, "POST", path, service({"p2p": 70000}))
    assert "`verbose` of service `tns` must be 0, 1, true or false" in refused(
        dream_daemon, "POST", path, service({"verbose": "loud"})
    )
    assert "`Others` of service `tns` must be a JSON object" in refused(
        dream_daemon, "POST", path, service([1])
    )
    assert "service `tns`: `Disabled` must be true or false, got the string 'no'" in refused(
        dream_daemon, "POST", path, service({}, Disabled="no")
    )
    assert "`Services` of `config` must be a JSON object" in refused(
        dream_daemon, "POST", path, {"config": {"Services": ["tns"]}}
    )
    assert "service `nosuch` is not valid" in refused(
        dream_daemon, "POST", path, {"config": {"Services": {"nosuch": {}}}}
    )
    assert "`Clients` of simple `client` must be a JSON object" in refused(
        dream_daemon, "POST", path, {"config": {"Services": {}, "Simples": {"client": {"Clients": "tns"}}}}
    )
    assert "client `nosuch` not valid" in refused(
        dream_daemon, "POST", path, {"config": {"Simples": {"client": {"Clients": {"nosuch": {}}}}}}
    )
    assert "`Bad!` is not a valid simple name" in refused(
        dream_daemon, "POST", path, {"config": {"Simples": {"Bad!": {}}}}
    )
    assert "is not a valid universe name" in refused(
        dream_daemon, "POST", "/universe/bad.name", {"config": {"Services": {}}}
    )
    still_fine(dream_daemon, small)


def test_copies_at_the_limit_are_accepted() -> None:
    assert ServiceShape.from_api("tns", {"Others": {"copies": MAX_COPIES}}).copies == MAX_COPIES
    assert ServiceShape.from_api("tns", {"Others": {"copies": 0}}).copies == 1  # upstream's zero value
    assert ServiceShape.from_api("tns", None).copies == 1


def test_new_and_kill_service(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    path = f"/service/{small.name}/tns"
    assert "is not valid JSON" in refused(dream_daemon, "POST", path, raw=NOT_JSON)
    assert "the config of service `tns` must be a JSON object" in refused(
        dream_daemon, "POST", path, {"config": 5}
    )
    assert "`copies` of service `tns` must be a whole number" in refused(
        dream_daemon, "POST", path, {"config": {"Others": {"copies": "two"}}}
    )
    assert "service `nosuch` is not valid" in refused(
        dream_daemon, "POST", f"/service/{small.name}/nosuch", {}
    )
    assert "universe `nowhere` does not exist" in refused(dream_daemon, "POST", "/service/nowhere/tns", {})
    assert refused(dream_daemon, "DELETE", f"/service/{small.name}/seer")
    assert "universe `nowhere` does not exist" in refused(dream_daemon, "DELETE", "/service/nowhere/tns")
    assert refused(dream_daemon, "DELETE", f"/node/{small.name}/tns/not-a-node")
    assert len([n for n in small.nodes() if n["name"].startswith("tns@")]) == 1
    still_fine(dream_daemon, small)


def test_new_and_kill_simple(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    path = f"/simple/{small.name}/client"
    assert "is not valid JSON" in refused(dream_daemon, "POST", path, raw=NOT_JSON)
    assert "the config of simple `client` must be a JSON object" in refused(
        dream_daemon, "POST", path, {"config": "x"}
    )
    assert "`Clients` of simple `client` must be a JSON object" in refused(
        dream_daemon, "POST", path, {"config": {"Clients": ["tns"]}}
    )
    assert "client `nosuch` not valid" in refused(
        dream_daemon, "POST", path, {"config": {"Clients": {"nosuch": {}}}}
    )
    assert "`Bad-Name` is not a valid simple name" in refused(
        dream_daemon, "POST", f"/simple/{small.name}/Bad-Name", {}
    )
    assert refused(dream_daemon, "DELETE", f"/simple/{small.name}/nosuch")
    still_fine(dream_daemon, small)


def test_fixture(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    path = f"/fixture/{small.name}/createProjects"
    assert "is not valid JSON" in refused(dream_daemon, "POST", path, raw=NOT_JSON)
    assert "missing `params` (a JSON list of strings, may be empty)" in refused(
        dream_daemon, "POST", path, {}
    )
    assert "`params` must be a JSON list of strings" in refused(dream_daemon, "POST", path, {"params": "a"})
    assert "`params` must be a JSON list of strings" in refused(dream_daemon, "POST", path, {"params": [1]})
    assert "nosuchfixture" in refused(
        dream_daemon, "POST", f"/fixture/{small.name}/nosuchfixture", {"params": []}
    )
    still_fine(dream_daemon, small)


def test_projects(dream_daemon: DaemonProcess, small: UniverseHandle, tmp_path: Path) -> None:
    path = f"/project/{small.name}"
    where = str(tmp_path / "p")
    assert "is not valid JSON" in refused(dream_daemon, "POST", path, raw=NOT_JSON)
    missing = "a project needs a `name` and an absolute `path` for its working copies"
    assert missing in refused(dream_daemon, "POST", path, {"path": where})
    assert missing in refused(dream_daemon, "POST", path, {"name": "p"})
    assert "`name` must be a string, got the number 5" in refused(
        dream_daemon, "POST", path, {"name": 5, "path": where}
    )
    assert "`path` must be a string, got a list" in refused(
        dream_daemon, "POST", path, {"name": "p", "path": []}
    )
    assert "the project path must be absolute, got relative/p" in refused(
        dream_daemon, "POST", path, {"name": "p", "path": "relative/p"}
    )
    assert "`lang` must be a string, got `true`" in refused(
        dream_daemon, "POST", path, {"name": "p", "path": where, "lang": True}
    )
    assert "`template` must be a string" in refused(
        dream_daemon, "POST", path, {"name": "p", "path": where, "template": {}}
    )
    for kind in ("website", "library"):
        sub = f"/project/{small.name}/p/{kind}"
        assert "is not valid JSON" in refused(dream_daemon, "POST", sub, raw=NOT_JSON)
        assert f"a {kind} needs a `name`" in refused(dream_daemon, "POST", sub, {})
        assert "`name` must be a string, got the number 7" in refused(dream_daemon, "POST", sub, {"name": 7})
    assert "`lang` must be a string" in refused(
        dream_daemon, "POST", f"/project/{small.name}/p/library", {"name": "lib", "lang": 3}
    )
    assert "no project `p`" in refused(dream_daemon, "GET", f"/project/{small.name}/p")
    assert not (tmp_path / "p").exists()
    assert small.client.projects(small.name) == []
    still_fine(dream_daemon, small)


def test_logs_offset(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    path = f"/logs/{small.name}/tns"
    assert "`offset` must be a whole number of bytes (0 or more), got 'abc'" in refused(
        dream_daemon, "GET", f"{path}?offset=abc"
    )
    assert "`offset` must be between 0 and" in refused(dream_daemon, "GET", f"{path}?offset=-5")
    assert "got 1180591620717411303424" in refused(dream_daemon, "GET", f"{path}?offset={2**70}")
    assert "no node `nosuch` in universe `inputs`" in refused(
        dream_daemon, "GET", f"/logs/{small.name}/nosuch"
    )
    answer = httpx.get(f"{dream_daemon.url}{path}?offset=0").json()
    assert answer["offset"] == len(answer["text"].encode())
    at_limit = httpx.get(f"{dream_daemon.url}{path}?offset={MAX_OFFSET}").json()
    assert at_limit["offset"] == MAX_OFFSET and at_limit["text"] == ""
    assert f"`offset` must be between 0 and {MAX_OFFSET} bytes, got {MAX_OFFSET + 1}" in refused(
        dream_daemon, "GET", f"{path}?offset={MAX_OFFSET + 1}"
    )
    still_fine(dream_daemon, small)


def test_reads_of_an_unknown_universe(dream_daemon: DaemonProcess) -> None:
    for method, path in (
        ("GET", "/les/miserables/nowhere"),
        ("GET", "/id/nowhere"),
        ("GET", "/projects/nowhere"),
        ("GET", "/logs/nowhere/tns"),
        ("DELETE", "/universe/nowhere"),
    ):
        assert refused(dream_daemon, method, path) == "universe `nowhere` does not exist"
    response = httpx.get(f"{dream_daemon.url}/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"code": 404, "error": "no route GET /no/such/route"}


def test_registry_announce(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    path = f"/universe/{small.name}/registry/peers/announce"
    auth = UniverseAuth(small.key(), peer="test", universe=small.id)
    peer = {
        "id": "x",
        "name": "tns",
        "kind": "service",
        "index": 0,
        "pid": 1,
        "ports": {"p2p": 1},
        "universe": small.id,
    }

    def announce(content: bytes) -> httpx.Response:
        return httpx.post(f"{dream_daemon.url}{path}", content=content, auth=auth)

    cases: list[tuple[bytes, str]] = [
        (NOT_JSON, "is not valid JSON"),
        (b"[]", "must be a JSON object, got a list"),
        (json.dumps({k: v for k, v in peer.items() if k != "id"}).encode(), "announce: missing `id`"),
        (
            json.dumps({**peer, "pid": "one"}).encode(),
            "announce: `pid` must be a whole number, got the string 'one'",
        ),
        (json.dumps({**peer, "ports": []}).encode(), "announce: `ports` must be a JSON object, got a list"),
        (json.dumps({**peer, "ports": {"p2p": "x"}}).encode(), "announce: port `p2p` must be a number"),
        (json.dumps({**peer, "registry": "yes"}).encode(), "announce: `registry` must be true or false"),
    ]
    for content, sentence in cases:
        response = announce(content)
        assert response.status_code == 400, response.text
        assert sentence in response.json()["error"]
    still_fine(dream_daemon, small)


def test_an_unexpected_failure_keeps_its_message_and_logs_its_traceback(
    dream_daemon: DaemonProcess, small: UniverseHandle, tmp_path: Path
) -> None:
    """Working copies asked for under a regular file: the OS refuses, the daemon did not foresee it."""
    (tmp_path / "a-file").write_text("not a directory\n")
    where = tmp_path / "a-file" / "project"
    response = httpx.post(
        f"{dream_daemon.url}/project/{small.name}",
        json={"name": "underfile", "path": str(where)},
        headers=dream_daemon.auth(),
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["code"] == 500
    assert answer["error"].startswith(
        f"the daemon failed while handling POST /project/{small.name}: NotADirectoryError: [Errno 20] Not a "
        f"directory: '{tmp_path / 'a-file'}"
    )
    assert answer["error"].endswith(f"; the traceback is in {dream_daemon.log_path}")
    log = dream_daemon.log()
    assert answer["error"] in log
    assert "Traceback (most recent call last):" in log.split(answer["error"], 1)[1]
    still_fine(dream_daemon, small)
