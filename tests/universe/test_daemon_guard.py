"""Who may drive the daemon: its own Host and origin only, the home's token for every state-changing
route, no universe key in any answer, and no x-dream-time that is not a finite number."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from dream.api_token import TOKEN_FILE, read_token
from dream.client import DreamClient
from dream.daemon.app import build_app
from dream.daemon.multiverse import Multiverse
from dream.errors import DreamError
from dream.node.security import signature
from dream.testing.harness import DaemonProcess, UniverseHandle
from dream.testing.plugin import UniverseFactory

pytestmark = pytest.mark.e2e

SMALL = {"Services": {"tns": {}, "auth": {}}, "Simples": {}}
ACCESS_CONTROL = "access-control-allow-"


@pytest.fixture(scope="module")
def small(module_universe_factory: UniverseFactory) -> UniverseHandle:
    return module_universe_factory("guarded", config=SMALL)


def get(daemon: DaemonProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{daemon.url}{path}", headers=headers)


def state_changing_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """Every (method, path) of the API that changes state, read from the app itself, so a route added
    later is covered without editing this test."""
    multiverse = Multiverse(home=tmp_path / "routes-home", port=1)
    app = build_app(multiverse, on_shutdown=lambda: None)
    found = []
    for route in app.routes:
        assert isinstance(route, Route)
        for method in sorted((route.methods or set()) - {"GET", "HEAD"}):
            path = route.path.replace("{universe}", "guarded").replace("{name}", "tns").replace("{id}", "x")
            found.append((method, path))
    return found


# -- Host ------------------------------------------------------------------------------------------------


def test_a_foreign_host_is_refused_with_the_accepted_hosts(dream_daemon: DaemonProcess) -> None:
    port = dream_daemon.port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1"):
        response = get(dream_daemon, "/ping", host=host)
        assert response.status_code == 403, host
        sentence = response.json()["error"]
        assert response.json()["code"] == 403
        assert f"Host `{host}`" in sentence
        assert f"accepted hosts: 127.0.0.1:{port}, localhost:{port}, [::1]:{port}" in sentence
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert get(dream_daemon, "/ping", host=host).json() == "pong", host


# -- Origin and Sec-Fetch-Site -----------------------------------------------------------------------------


def test_another_origin_is_refused_and_gets_no_cors_headers(dream_daemon: DaemonProcess) -> None:
    for origin in ("http://evil.example", f"http://127.0.0.1:{dream_daemon.port + 1}", "null"):
        response = get(dream_daemon, "/status", origin=origin)
        assert response.status_code == 403, origin
        assert f"Origin `{origin}`" in response.json()["error"]
        assert "only from its own origin" in response.json()["error"]
        assert not [h for h in response.headers if h.startswith(ACCESS_CONTROL)]
    own = get(dream_daemon, "/ping", origin=f"http://localhost:{dream_daemon.port}")
    assert own.json() == "pong"
    assert not [h for h in own.headers if h.startswith(ACCESS_CONTROL)]


def test_a_cross_origin_preflight_is_refused(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    response = httpx.options(
        f"{dream_daemon.url}/universe/{small.name}",
        headers={
            "origin": "http://evil.example",
            "access-control-request-method": "DELETE",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 403
    assert (
        "cross-origin preflight from the web page at Origin `http://evil.example`" in response.json()["error"]
    )
    assert not [h for h in response.headers if h.startswith(ACCESS_CONTROL)]
    assert small.name in dream_daemon.client().universes()


def test_a_cross_site_fetch_is_refused(dream_daemon: DaemonProcess) -> None:
    for site in ("cross-site", "same-site"):
        response = get(dream_daemon, "/status", **{"sec-fetch-site": site})
        assert response.status_code == 403
        assert f"Sec-Fetch-Site: {site}" in response.json()["error"]
    assert get(dream_daemon, "/ping", **{"sec-fetch-site": "same-origin"}).json() == "pong"
    assert get(dream_daemon, "/ping", **{"sec-fetch-site": "none"}).json() == "pong"


def test_a_text_plain_post_from_a_page_creates_nothing(
    dream_daemon: DaemonProcess, small: UniverseHandle, tmp_path: Path
) -> None:
    """What a page's `fetch(..., {method: "POST", body})` sends, with and without the browser's headers."""
    target = tmp_path / "never"
    body = json.dumps({"name": "never", "path": str(target)})
    for headers in (
        {"content-type": "text/plain", "origin": "http://evil.example", "sec-fetch-site": "cross-site"},
        {"content-type": "text/plain"},  # a local process, or a browser that sends neither header
    ):
        response = httpx.post(f"{dream_daemon.url}/project/{small.name}", content=body, headers=headers)
        assert response.status_code in (401, 403)
    assert not target.exists()
    assert [p["name"] for p in dream_daemon.client().projects(small.name)] == []


# -- the token -------------------------------------------------------------------------------------------


def test_every_state_changing_route_needs_the_token(
    dream_daemon: DaemonProcess, small: UniverseHandle, tmp_path: Path
) -> None:
    token_file = dream_daemon.home / TOKEN_FILE
    routes = state_changing_routes(tmp_path)
    assert ("DELETE", "/multiverse") in routes and ("POST", "/project/guarded") in routes
    for method, path in routes:
        if path.endswith("/registry/peers/announce"):
            continue  # the universe's HMAC guards it (below)
        missing = httpx.request(method, f"{dream_daemon.url}{path}", json={})
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.json() == {
            "code": 401,
            "error": f"{method} {path} changes state and needs the daemon's token: send `Authorization: "
            f"Bearer <token>` with the token in {token_file} (readable by its owner only; the dream CLI "
            f"and DreamClient read it from there)",
        }
        wrong = httpx.request(
            method, f"{dream_daemon.url}{path}", json={}, headers={"authorization": "Bearer " + "0" * 64}
        )
        assert wrong.status_code == 403, (method, path)
        assert "wrong token for this daemon" in wrong.json()["error"]
        assert str(token_file) in wrong.json()["error"]
    not_bearer = httpx.delete(
        f"{dream_daemon.url}/universe/{small.name}", headers={"authorization": dream_daemon.token}
    )
    assert not_bearer.status_code == 401
    assert "the Authorization header is not `Bearer <token>`" in not_bearer.json()["error"]
    assert dream_daemon.client().universes()[small.name]["state"] == "running"
    # With the token, the request reaches the route (and is judged on its own merits).
    response = httpx.post(
        f"{dream_daemon.url}/fixture/{small.name}/nosuchfixture",
        json={"params": []},
        headers=dream_daemon.auth(),
    )
    assert response.status_code == 400 and "nosuchfixture" in response.json()["error"]


def test_reading_needs_no_token(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    for path in ("/ping", "/status", "/universes", f"/id/{small.name}", "/spec/services"):
        assert get(dream_daemon, path).status_code == 200, path


def test_the_token_file_is_0600_and_kept_across_restarts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    daemon = DaemonProcess(home).start()
    try:
        path = home / TOKEN_FILE
        first = read_token(home)
        assert first and stat.S_IMODE(path.stat().st_mode) == 0o600
        daemon.stop()
        os.chmod(path, 0o644)  # loosened by hand: the daemon takes it back to 0600, same token
        daemon = DaemonProcess(home, port=daemon.port).start()
        assert read_token(home) == first
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "was readable by others (mode 644): made it 0600" in daemon.log()
        with daemon.client() as client:
            client.new_universe("tokened", {"Services": {}, "Simples": {}})
            client.kill_universe("tokened")
    finally:
        daemon.stop()
    other = tmp_path / "other-home"
    daemon = DaemonProcess(other).start()
    try:
        assert read_token(other) not in (None, first)  # one token per home
        with DreamClient(daemon.url, token=first) as client, pytest.raises(DreamError) as failure:
            client.kill_universe("anything")  # with the token of another home
        assert "wrong token for this daemon" in str(failure.value)
    finally:
        daemon.stop()


def test_the_registry_announce_needs_the_universe_proof_not_the_token(
    dream_daemon: DaemonProcess, small: UniverseHandle
) -> None:
    path = f"/universe/{small.name}/registry/peers/announce"
    peer = {
        "id": "12D3KooWguardtest",
        "name": "tns",
        "kind": "service",
        "index": 9,
        "pid": os.getpid(),
        "ports": {"p2p": 1},
        "universe": small.id,
    }
    unsigned = httpx.post(f"{dream_daemon.url}{path}", json=peer)
    assert unsigned.status_code == 401
    assert "no proof of universe membership" in unsigned.json()["error"]
    with small.node_client() as signed:
        answer = signed.post(f"{dream_daemon.url}{path}", json=peer)
        assert answer.status_code == 200, answer.text
        peers = signed.get(f"{dream_daemon.url}/universe/{small.name}/registry/peers").json()["peers"]
    assert "12D3KooWguardtest" in [p["id"] for p in peers]


# -- no key in any answer --------------------------------------------------------------------------------


def test_no_route_returns_a_universe_key(dream_daemon: DaemonProcess, small: UniverseHandle) -> None:
    key = small.key().hex()
    status = dream_daemon.client().status()[small.name]
    assert "swarm-key" not in status and "key" not in status
    assert "swarm-key" not in dream_daemon.client().universes()[small.name]
    paths = [
        "/status",
        "/universes",
        f"/les/miserables/{small.name}",
        f"/id/{small.name}",
        f"/logs/{small.name}/tns",
        f"/projects/{small.name}",
        "/spec/services",
        "/spec/clients",
        "/spec/fixtures",
    ]
    for path in paths:
        response = get(dream_daemon, path)
        assert response.status_code == 200, (path, response.text)
        assert key not in response.text.lower(), path
        assert "swarm-key" not in response.text, path


# -- x-dream-time ----------------------------------------------------------------------------------------


@pytest.fixture
def tns_health(small: UniverseHandle) -> Iterator[tuple[str, bytes, str]]:
    yield f"http://127.0.0.1:{small.port('tns', 'p2p')}/health", small.key(), small.id


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "1e999", "-1e999", "infinity"])
def test_a_time_that_is_not_a_finite_number_is_refused_by_a_node(
    tns_health: tuple[str, bytes, str], stamp: str
) -> None:
    url, key, universe = tns_health
    headers = {
        "x-dream-time": stamp,
        # A signature that matches the stamp: only the time itself is wrong.
        "x-dream-signature": signature(key, "GET", "/health", stamp, b""),
        "x-dream-peer": "test",
        "x-dream-universe": universe,
    }
    response = httpx.get(url, headers=headers)
    assert response.status_code == 403
    assert f"x-dream-time {stamp!r} is not a finite number of unix seconds" in response.json()["error"]
    now = f"{time.time():.3f}"
    good = {**headers, "x-dream-time": now, "x-dream-signature": signature(key, "GET", "/health", now, b"")}
    assert httpx.get(url, headers=good).status_code == 200
