"""A real daemon, real node processes: start, inspect, kill, inject, restart, stop."""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from dream.errors import DreamError
from dream.spec import SERVICES
from dream.testing.harness import DaemonProcess, UniverseHandle, pid_alive

pytestmark = pytest.mark.e2e


def test_default_universe_runs_every_service_and_simple(dream_universe: UniverseHandle) -> None:
    nodes = dream_universe.nodes()
    names = sorted(n["name"].split("@")[0] for n in nodes)
    assert names == sorted([*SERVICES, "elder", "client", "git"])
    for node in nodes:
        assert node["name"].endswith(f"@{dream_universe.name}")
        assert node["value"]["p2p"] > 0
        assert pid_alive(node["pid"])
    assert dream_universe.node("substrate")["value"]["http"] > 0
    assert "dns" in dream_universe.node("seer")["value"]
    status = dream_universe.client.status()[dream_universe.name]
    assert status["node-count"] == len(SERVICES) + 3
    assert sorted(status["simples"]) == ["client", "elder", "git"]
    assert dream_universe.node("git")["value"]["http"] > 0


def test_every_node_is_registered_in_seer(dream_universe: UniverseHandle) -> None:
    seer = dream_universe.port("seer", "p2p")
    with dream_universe.node_client() as http:
        peers = http.get(f"http://127.0.0.1:{seer}/peers").json()["peers"]
    assert {p["id"] for p in peers} >= {n["id"] for n in dream_universe.nodes()}


def test_kill_a_service_then_inject_it_back(universe_factory) -> None:  # type: ignore[no-untyped-def]
    universe = universe_factory(
        "lifecycle", config={"Services": {"tns": {}, "seer": {}}, "Simples": {"elder": {"Clients": {}}}}
    )
    tns = universe.node("tns")
    universe.client.kill_service(universe.name, "tns")
    assert not any(n["name"].startswith("tns@") for n in universe.nodes())
    universe.wait_for(lambda: not pid_alive(tns["pid"]), what="tns to exit")
    started = universe.client.new_service(universe.name, "tns", {})["nodes"][0]
    assert started["pid"] != tns["pid"]
    assert universe.node("tns")["pid"] == started["pid"]
    pids = universe.pids()
    universe.client.kill_universe(universe.name)
    for pid in pids:
        universe.wait_for(lambda pid=pid: not pid_alive(pid), what=f"pid {pid} to exit")
    with pytest.raises(DreamError, match="does not exist"):
        universe.nodes()


def test_two_universes_are_isolated(universe_factory) -> None:  # type: ignore[no-untyped-def]
    shape = {"Services": {"tns": {}}, "Simples": {}}
    one = universe_factory("iso-one", config=shape)
    two = universe_factory("iso-two", config=shape)
    port_one, port_two = one.port("tns", "p2p"), two.port("tns", "p2p")
    assert port_one != port_two
    url = f"http://127.0.0.1:{port_one}/health"
    with one.node_client() as member:
        assert member.get(url).status_code == 200
    with two.node_client() as foreigner:
        refused = foreigner.get(url)
    assert refused.status_code == 403
    assert "does not match this universe's key" in refused.json()["error"]
    assert httpx.get(url).status_code == 401


def test_killed_node_is_restarted_with_the_same_ports(universe_factory) -> None:  # type: ignore[no-untyped-def]
    universe = universe_factory("restart", config={"Services": {"tns": {}}, "Simples": {}})
    before = universe.node("tns")
    with universe.node_client() as http:
        url = f"http://127.0.0.1:{before['value']['p2p']}/kv/answer"
        assert http.put(url, content=b"42").status_code == 200
    os.kill(before["pid"], signal.SIGKILL)
    after = universe.wait_for(
        lambda: (n := universe.node("tns"))["pid"] != before["pid"] and n["alive"] and n, what="tns restart"
    )
    assert after["value"] == before["value"]
    assert after["id"] == before["id"]
    with universe.node_client() as http:

        def answers() -> bool:
            try:
                return http.get(url).status_code == 200
            except httpx.TransportError:
                return False  # still starting

        universe.wait_for(answers, what="restarted tns to answer")
        assert http.get(url).content == b"42"


def test_bind_to_a_taken_port_is_a_clear_error(dream_daemon: DaemonProcess) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = {"Services": {"tns": {"Others": {"p2p": port}}}, "Simples": {}}
        with dream_daemon.client() as client, pytest.raises(DreamError) as failure:
            client.new_universe("taken", config)
    assert f"could not bind tns p2p port {port}: address already in use" in str(failure.value)
    with dream_daemon.client() as client:
        assert "taken" not in client.universes()


def test_api_errors_are_http_400_with_code_and_error(dream_daemon: DaemonProcess) -> None:
    response = httpx.get(f"{dream_daemon.url}/les/miserables/nowhere")
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error": "universe `nowhere` does not exist"}
    response = httpx.post(
        f"{dream_daemon.url}/fixture/nowhere/pushAll", json={"params": []}, headers=dream_daemon.auth()
    )
    assert response.status_code == 400
    assert httpx.get(f"{dream_daemon.url}/spec/services").json() == list(SERVICES)
    assert httpx.get(f"{dream_daemon.url}/ping").json() == "pong"
