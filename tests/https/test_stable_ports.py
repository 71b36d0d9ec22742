"""The default universe's gateway takes dream's fixed ports when they are free, says which it took when
not, gives way to --bind, and a kept universe comes back on the same ports. The fixed ports are pointed at
free ports here (DREAM_GATEWAY_PORTS): the suite cannot count on the real ones being free."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from dream.daemon.ports import free_port
from dream.settings import GATEWAY_PORTS_ENV
from dream.testing.harness import DaemonProcess, UniverseHandle, wait_for

pytestmark = pytest.mark.e2e

SHAPE = {"Services": {"seer": {}, "gateway": {}}, "Simples": {}}


@pytest.fixture
def fixed(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    ports = free_port(), free_port()
    monkeypatch.setenv(GATEWAY_PORTS_ENV, f"{ports[0]},{ports[1]}")
    return ports


@pytest.fixture
def daemon(tmp_path: Path, fixed: tuple[int, int]) -> Iterator[DaemonProcess]:
    started = DaemonProcess(tmp_path / "home").start()
    try:
        yield started
    finally:
        started.stop()


def gateway_http(daemon: DaemonProcess, universe: str) -> int:
    with daemon.client() as client:
        return UniverseHandle(client, universe).port("gateway")


def test_the_default_universe_gateway_takes_the_fixed_port(
    daemon: DaemonProcess, fixed: tuple[int, int]
) -> None:
    with daemon.client() as client:
        client.new_universe("blackhole", SHAPE)
        client.new_universe("other", SHAPE)
    assert gateway_http(daemon, "blackhole") == fixed[0]
    with daemon.client() as client:
        assert UniverseHandle(client, "blackhole").port("gateway", "https") == fixed[1]
    assert gateway_http(daemon, "other") != fixed[0]  # only the default universe's


def test_a_taken_fixed_port_is_said_and_another_is_used(
    daemon: DaemonProcess, fixed: tuple[int, int]
) -> None:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", fixed[0]))
        holder.listen()
        with daemon.client() as client:
            client.new_universe("blackhole", SHAPE)
        port = gateway_http(daemon, "blackhole")
    assert port != fixed[0]
    assert f"gateway-0's http port {fixed[0]} is taken; it listens on {port} instead" in daemon.log()


def test_bind_overrides_the_fixed_port(daemon: DaemonProcess, fixed: tuple[int, int]) -> None:
    chosen = free_port()
    shape = {"Services": {"seer": {}, "gateway": {"Others": {"http": chosen}}}, "Simples": {}}
    with daemon.client() as client:
        client.new_universe("blackhole", shape)
    assert gateway_http(daemon, "blackhole") == chosen


def test_a_kept_universe_keeps_its_gateway_urls_across_restarts(
    tmp_path: Path, fixed: tuple[int, int]
) -> None:
    home = tmp_path / "home"
    daemon = DaemonProcess(home).start()
    try:
        with daemon.client() as client:
            client.new_universe("blackhole", SHAPE, keep=True)
            before = {n["name"]: n["ports"] for n in UniverseHandle(client, "blackhole").nodes()}
        assert before["gateway@blackhole"]["http"] == fixed[0]
        daemon.stop()
        daemon = DaemonProcess(home, port=daemon.port).start()
        with daemon.client() as client:
            client.new_universe("blackhole")
            after = {n["name"]: n["ports"] for n in UniverseHandle(client, "blackhole").nodes()}
        assert after == before
    finally:
        daemon.stop()


def test_a_bad_setting_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from dream.settings import gateway_ports

    monkeypatch.setenv(GATEWAY_PORTS_ENV, "14480")
    with pytest.raises(
        SystemExit, match=r"is not `<http port>,<https port>` or `off`; set it to e.g. 14480,14443"
    ):
        gateway_ports()
    monkeypatch.setenv(GATEWAY_PORTS_ENV, "off")
    assert gateway_ports() == {}
    monkeypatch.delenv(GATEWAY_PORTS_ENV)
    assert gateway_ports() == {"http": 14480, "https": 14443}


def test_the_daemon_says_where_browsers_come_in(tmp_path: Path, fixed: tuple[int, int]) -> None:
    daemon = DaemonProcess(tmp_path / "home").start("--universe", "blackhole", "--config", json.dumps(SHAPE))
    try:
        with daemon.client() as client:
            wait_for(lambda: "blackhole" in client.universes(), "the universe to start")
        wait_for(lambda: "Universe blackhole started!" in daemon.log(), "the start-up to be reported")
        assert (
            f"universe blackhole: functions and websites at http://<fqdn>.localhost:{fixed[0]}/, "
            f"https://<fqdn>.localhost:{fixed[1]}/" in daemon.log()
        )
    finally:
        daemon.stop()
