"""Supervision with real node processes: a node restarts exactly once per death, no process the daemon
does not track listens on a universe's ports, and every status view tells each node's state."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from dream.errors import DreamError
from dream.testing.harness import DaemonProcess, UniverseHandle, pid_alive, wait_for

pytestmark = pytest.mark.e2e

# Five nodes, ten pairs: two registries (seer, elder), a node with state, and the two the orphan was
# first seen with (substrate and gateway).
SHAPE = {
    "Services": {"seer": {}, "tns": {}, "substrate": {}, "gateway": {}},
    "Simples": {"elder": {"Clients": {}}},
}
BACK_TIMEOUT = 90.0  # a restart takes a second or two; this only bounds a broken one


def by_id(universe: UniverseHandle) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in universe.nodes()}


def served_ports(node: dict[str, Any]) -> list[int]:
    return [port for protocol, port in node["value"].items() if protocol != "copies"]


def listeners(ports: set[int]) -> dict[int, set[int]]:
    """Which pids listen on each port (TCP listeners, and bound UDP sockets for seer's DNS)."""
    found: dict[int, set[int]] = {port: set() for port in ports}
    for conn in psutil.net_connections(kind="inet"):
        if not conn.laddr or conn.laddr.port not in found or conn.pid is None:
            continue
        if conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and not conn.raddr):
            found[conn.laddr.port].add(conn.pid)
    return found


def node_processes(daemon: DaemonProcess) -> set[int]:
    """Every live process forked by the daemon's zygote: each must be a node the daemon tracks."""
    state = json.loads((daemon.home / f"daemon-{daemon.port}.json").read_text())
    zygote = psutil.Process(int(state["zygote"]["pid"]))
    found = set()
    for child in zygote.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def tracked_pids(universe: UniverseHandle) -> set[int]:
    return {s["pid"] for u in universe.client.status().values() for s in u["states"].values() if s["pid"]}


def assert_no_orphan(daemon: DaemonProcess, universe: UniverseHandle) -> None:
    nodes = universe.nodes()
    ports = {port for node in nodes for port in served_ports(node)}
    owners = listeners(ports)
    for node in nodes:
        assert node["state"] == "up", node
        for port in served_ports(node):
            assert owners[port] == {node["pid"]}, (
                f"{node['name']} port {port} is listened on by {owners[port]}, the daemon tracks {node['pid']}"
            )
    untracked = node_processes(daemon) - tracked_pids(universe)
    assert not untracked, f"node processes the daemon does not track: {untracked}"


def kill_together(universe: UniverseHandle, ids: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """kill -9 of the nodes at once; returns the nodes once each is back (a new pid, up)."""
    before = by_id(universe)
    for node_id in ids:
        os.kill(before[node_id]["pid"], signal.SIGKILL)

    def back() -> dict[str, dict[str, Any]] | None:
        now = by_id(universe)
        ready = all(now[i]["state"] == "up" and now[i]["pid"] not in (None, before[i]["pid"]) for i in ids)
        return now if ready else None

    names = " and ".join(before[i]["name"] for i in ids)
    now = wait_for(back, f"{names} to come back", timeout=BACK_TIMEOUT, every=0.05)
    for node_id, node in now.items():
        expected = before[node_id]["restarts"] + (1 if node_id in ids else 0)
        assert node["restarts"] == expected, (
            f"{node['name']}: {node['restarts']} restarts, expected {expected}"
        )
        if node_id in ids:
            assert node["last_exit"] == "was killed by signal 9 (SIGKILL)"
            assert node["value"] == before[node_id]["value"]  # same ports
        else:
            assert node["pid"] == before[node_id]["pid"]
    return now


def test_every_pair_killed_at_once_restarts_each_node_exactly_once(
    dream_daemon: DaemonProcess, universe_factory: Any
) -> None:
    universe = universe_factory("pairs", config=SHAPE)
    ids = sorted(by_id(universe))
    assert len(ids) == 5
    kills = dict.fromkeys(ids, 0)
    for pair in itertools.combinations(ids, 2):
        kill_together(universe, pair)
        for node_id in pair:
            kills[node_id] += 1
        assert_no_orphan(dream_daemon, universe)
    # Once more at the end: a second restart of any death would have shown by now.
    final = by_id(universe)
    assert {i: final[i]["restarts"] for i in ids} == kills
    assert_no_orphan(dream_daemon, universe)


def test_substrate_and_gateway_killed_together_round_after_round(
    dream_daemon: DaemonProcess, universe_factory: Any
) -> None:
    universe = universe_factory("pair-rounds", config=SHAPE)
    nodes = {n["name"].split("@")[0]: n["id"] for n in universe.nodes()}
    pair = (nodes["substrate"], nodes["gateway"])
    # Five rounds: the most the default crash-loop rule restarts within its window (5 in 30 s).
    for _ in range(5):
        kill_together(universe, pair)
        assert_no_orphan(dream_daemon, universe)
    final = by_id(universe)
    assert [final[i]["restarts"] for i in pair] == [5, 5]
    status = universe.client.status()[universe.name]
    assert {status["states"][i]["state"] for i in status["states"]} == {"up"}


def test_a_node_stopped_gracefully_on_its_own_is_restarted_with_its_exit_code(
    universe_factory: Any,
) -> None:
    universe = universe_factory("graceful", config={"Services": {"tns": {}}, "Simples": {}})
    before = universe.node("tns")
    os.kill(before["pid"], signal.SIGTERM)  # the node shuts down cleanly and exits 0
    after = wait_for(
        lambda: (n := universe.node("tns"))["pid"] not in (None, before["pid"]) and n["state"] == "up" and n,
        "tns to come back",
        timeout=BACK_TIMEOUT,
    )
    assert after["restarts"] == 1
    assert after["last_exit"] == "exited with code 0"


def test_stopping_a_universe_while_its_nodes_restart_leaves_nothing_behind(
    dream_daemon: DaemonProcess, universe_factory: Any
) -> None:
    for round_ in range(3):
        name = f"stop-mid-restart-{round_}"
        universe = universe_factory(name, config=SHAPE)
        nodes = universe.nodes()
        ports = {port for node in nodes for port in served_ports(node)}
        for node in nodes:
            if node["name"].split("@")[0] in ("substrate", "gateway"):
                os.kill(node["pid"], signal.SIGKILL)
        universe.client.kill_universe(name)
        # (Ports of a stopped universe are free for any program: only the daemon's own count.)
        left = node_processes(dream_daemon)
        assert not any(pids & left for pids in listeners(ports).values()), (
            f"a node still listens on {name}'s ports"
        )
        assert left <= tracked_pids(universe)
        for node in nodes:
            wait_for(lambda pid=node["pid"]: not pid_alive(pid), f"{node['name']} to be gone")


def dream(daemon: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dream", *args],
        env={**daemon.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_node_past_the_crash_loop_limit_is_left_down_and_every_view_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At the limit: 2 restarts allowed in a window far longer than the test, so the third death is
    # the one that leaves it down, however slow the machine.
    monkeypatch.setenv("DREAM_RESTART_LIMIT", "2")
    monkeypatch.setenv("DREAM_RESTART_WINDOW", "3600")
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        with daemon.client() as client:
            client.new_universe("limit", {"Services": {"tns": {}, "substrate": {}}, "Simples": {}})
            universe = UniverseHandle(client, "limit")
            substrate = universe.node("substrate")["id"]
            kill_together(universe, (substrate,))
            kill_together(universe, (substrate,))
            last = by_id(universe)[substrate]
            ports = set(served_ports(last))
            os.kill(last["pid"], signal.SIGKILL)
            down = wait_for(
                lambda: (n := by_id(universe)[substrate])["state"] == "down" and n,
                "substrate to be left down",
                timeout=BACK_TIMEOUT,
            )
            reason = "crashed 3 times in 3600s (last: was killed by signal 9 (SIGKILL))"
            assert down["reason"] == reason
            assert down["restarts"] == 2 and down["pid"] is None and not down["alive"]
            assert down["value"] == {"copies": 1}, "a node left down presents no port"
            assert set(down["ports"].values()) == ports
            nodes = node_processes(daemon)
            assert not any(pids & nodes for pids in listeners(ports).values())
            assert nodes <= tracked_pids(universe)
            assert universe.node("tns")["state"] == "up"

            status = client.status()["limit"]
            assert status["nodes"][substrate] == []
            assert status["states"][substrate]["state"] == "down"
            with pytest.raises(
                DreamError, match=r"`substrate` in universe `limit` is down \(crashed 3 times"
            ):
                universe.port("substrate")

        table = dream(daemon, "status", "universe", "limit")
        assert table.returncode == 0, table.stderr
        assert f"down: {reason}" in " ".join(table.stdout.split())
        for port in ports:
            assert str(port) not in table.stdout
        one = dream(daemon, "status", "substrate", "limit")
        assert one.returncode == 0, one.stderr
        assert "@ http" not in one.stdout and "down" in one.stdout
        as_json = json.loads(dream(daemon, "status", "substrate", "limit", "--json").stdout)
        assert (as_json["state"], as_json["reason"], as_json["restarts"]) == ("down", reason, 2)
        everything = dream(daemon, "status")
        assert everything.returncode == 0, everything.stderr
        assert "limit" in everything.stdout and "down" in everything.stdout
        assert "tns@limit" in everything.stdout
        all_json = json.loads(dream(daemon, "status", "--json").stdout)
        states = {n["name"]: n["state"] for n in all_json["limit"]["nodes"]}
        assert states == {"substrate@limit": "down", "tns@limit": "up"}
    finally:
        daemon.stop()


def test_a_bad_restart_setting_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DREAM_RESTART_WINDOW", "soon")
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        with daemon.client() as client, pytest.raises(DreamError) as failure:
            client.new_universe("bad-setting", {"Services": {"tns": {}}, "Simples": {}})
        assert str(failure.value) == (
            "DREAM_RESTART_WINDOW='soon' is not a number of seconds (default 30); "
            "fix or unset it and start the daemon again"
        )
    finally:
        daemon.stop()
