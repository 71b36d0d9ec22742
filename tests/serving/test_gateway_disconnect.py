"""A client that goes away from the gateway stops the call on the substrate behind it, as a client of the
substrate itself does: the gateway drops its upstream connection instead of waiting for an answer nobody
reads."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dream.testing.harness import UniverseHandle, wait_for
from dream.testing.project import DeployedProject, deploy

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "fixtures" / "projects" / "hostile"
FQDN = "hostile.computers.com"
SERVICES = {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {}, "gateway": {}}


@pytest.fixture(scope="module")
def project(module_universe_factory: Any) -> Iterator[DeployedProject]:
    universe = module_universe_factory("gwgone", config={"Services": SERVICES, "Simples": {}})
    deployed = deploy(universe, HOSTILE)
    try:
        yield deployed
    finally:
        deployed.close()


def calls(universe: UniverseHandle) -> dict[str, int]:
    """The substrate's worker calls, from its /health: running, queued, memory_reserved, stopped."""
    return dict(universe.health("substrate")["calls"])


def gateway_get(universe: UniverseHandle, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", universe.port("gateway")), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {FQDN}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_calls_through_the_gateway_stop_when_their_clients_go_away(project: DeployedProject) -> None:
    universe = project.universe
    assert gateway_get(universe, "/ping").endswith(b"PONG")
    stopped_before = calls(universe)["stopped"]
    sockets: list[socket.socket] = []
    try:
        for _ in range(4):  # each asks for a busy loop with a 30 s timeout
            sock = socket.create_connection(("127.0.0.1", universe.port("gateway")), timeout=10)
            sockets.append(sock)
            sock.sendall(f"GET /spin HTTP/1.1\r\nHost: {FQDN}\r\n\r\n".encode())
        wait_for(lambda: calls(universe)["running"] == 4, "4 calls of /spin running on the substrate")
    finally:
        for sock in sockets:
            sock.close()
    # Stopped within a few ticks, long before the 30 s timeout would have ended them.
    wait_for(lambda: calls(universe)["running"] == 0, "the calls of the gone clients to stop", timeout=10)
    assert calls(universe)["stopped"] - stopped_before == 4
    assert gateway_get(universe, "/ping").endswith(b"PONG")  # the gateway serves on
