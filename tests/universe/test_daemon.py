"""Daemons of their own: keep across restarts, kill -9 clean-up, the CLI's answers."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dream.testing.harness import DaemonProcess, UniverseHandle, pid_alive, wait_for

pytestmark = pytest.mark.e2e

SMALL = {"Services": {"tns": {}}, "Simples": {"elder": {"Clients": {}}}}


def dream(daemon: DaemonProcess, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dream", *args],
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_kept_universe_survives_a_daemon_restart_with_its_data(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        with daemon.client() as client:
            client.new_universe("kept", SMALL, keep=True)
            universe = UniverseHandle(client, "kept")
            first_id, key = universe.id, universe.key()
            url = f"http://127.0.0.1:{universe.port('tns', 'p2p')}/kv/note"
            with universe.node_client() as http:
                assert http.put(url, content=b"remember me").status_code == 200
        daemon.stop()
        assert (tmp_path / "home" / "universe-kept" / "tns-0" / "node.db").is_file()
        daemon = DaemonProcess(tmp_path / "home", port=daemon.port).start()
        with daemon.client() as client:
            assert client.universes()["kept"]["state"] == "stopped"
            client.new_universe("kept")  # reloads the kept shape, id, key and data
            universe = UniverseHandle(client, "kept")
            assert universe.id == first_id and universe.key() == key
            url = f"http://127.0.0.1:{universe.port('tns', 'p2p')}/kv/note"
            with universe.node_client() as http:
                assert http.get(url).content == b"remember me"
    finally:
        daemon.stop()


def test_nodes_exit_when_the_daemon_is_killed_and_the_next_start_cleans_up(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        with daemon.client() as client:
            client.new_universe("orphans", SMALL)
            pids = UniverseHandle(client, "orphans").pids()
            root = Path(client.status()["orphans"]["root"])
        daemon.kill9()
        for pid in pids:
            wait_for(lambda pid=pid: not pid_alive(pid), what=f"node {pid} to notice the daemon died")
        assert root.exists() and (tmp_path / "home" / f"daemon-{daemon.port}.json").exists()
        daemon = DaemonProcess(tmp_path / "home", port=daemon.port).start()
        assert "cleaned up after a daemon that did not stop cleanly" in daemon.log()
        assert not root.exists()
    finally:
        daemon.stop()


def test_cli_new_multiverse_daemon_status_and_kill(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "home")
    try:
        started = dream(daemon, "new", "multiverse", "--daemon", "--enable", "tns,seer,substrate")
        assert started.returncode == 0, started.stdout + started.stderr
        assert "[INFO] Dreamland ready" in started.stdout
        assert "[SUCCESS] Universe blackhole started!" in started.stdout
        again = dream(daemon, "start", "--daemon")
        assert again.returncode == 1
        assert "already running" in again.stderr and "Traceback" not in again.stderr
        status = dream(daemon, "status", "universe")
        assert status.returncode == 0
        for name in ("tns@blackhole", "seer@blackhole", "substrate@blackhole", "elder@blackhole"):
            assert name in status.stdout
        assert "Nodes" in status.stdout
        substrate = dream(daemon, "status", "substrate")
        assert substrate.stdout.startswith("@ http://127.0.0.1:")
        assert "http" in substrate.stdout and "p2p" in substrate.stdout
        killed = dream(daemon, "kill", "universe", "blackhole")
        assert killed.returncode == 0
        assert dream(daemon, "kill", "multiverse").returncode == 0
        with daemon.client() as client:
            assert not client.ping()
    finally:
        dream(daemon, "kill", "multiverse")


def test_cli_errors_are_one_sentence_and_exit_1(tmp_path: Path) -> None:
    # A port bound and never listening: refused, and no node of another test can be handed it meanwhile.
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    try:
        daemon = DaemonProcess(tmp_path / "home", port=held.getsockname()[1])  # never started
        result = dream(daemon, "status", "universe")
    finally:
        held.close()
    assert result.returncode == 1
    assert f"dream is not running at {daemon.url}" in result.stderr
    assert "Traceback" not in result.stderr
    both = dream(daemon, "new", "multiverse", "--enable", "tns", "--disable", "auth")
    assert both.returncode == 1 and "can't set enable and disable flags" in both.stderr
    duplicate = dream(daemon, "new", "multiverse", "--bind", "tns@9000/p2p,auth@9000/http")
    assert "attempted duplicate port bindings [tns@9000/p2p] and [auth@9000/http]" in duplicate.stderr
    disabled = dream(daemon, "new", "multiverse", "--disable", "gateway", "--bind", "gateway@9000/http")
    assert (
        disabled.returncode == 1 and "could not bind port of service `gateway`: disabled" in disabled.stderr
    )


def test_doctor_lists_every_toolchain_with_status_and_install_command(tmp_path: Path) -> None:
    import json

    from dream.builders.toolchains import find_toolchains

    daemon = DaemonProcess(tmp_path / "home")  # doctor needs no daemon
    result = dream(daemon, "doctor", "--json")
    chains = {c["name"]: c for c in json.loads(result.stdout)}
    # What builders find here, in the same environment, is what doctor reports.
    expected = {
        c.name: {
            "name": c.name,
            "found": c.found,
            "version": c.version,
            "path": str(c.path or ""),
            "install": c.install_command,
        }
        for c in find_toolchains()
    }
    assert set(chains) >= {"go", "zig", "rust", "assemblyscript", "wat"}
    assert chains == expected
    for chain in chains.values():
        assert chain["install"], chain  # how to install it, said even when found
        assert chain["version"] or not chain["found"], chain  # a toolchain found has a version
    assert result.returncode == (0 if all(c["found"] for c in chains.values()) else 1)


def test_doctor_warm_says_why_it_cannot_build_instead_of_a_traceback(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "home")
    env = {**daemon.env, "DREAM_BUILD_SANDBOX": "maybe"}
    result = subprocess.run(
        [sys.executable, "-m", "dream", "doctor", "--warm"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "DREAM_BUILD_SANDBOX='maybe' is not understood" in result.stderr + result.stdout
