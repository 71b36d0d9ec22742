"""The gateway → substrate hop on the substrate's Unix socket: a real universe's gateway relays over it
(not over loopback TCP), a killed substrate is marked down and used again once its replacement listens;
`DREAM_GATEWAY_UPSTREAM=tcp` (the suite's raw rerun) keeps the TCP hop, which the same test then checks.
The pool and the down marks against a plain Unix socket server: a missing path (a stopped substrate
removed its socket) and a socket nobody listens on (a killed one left it behind) are both refusals."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
from pathlib import Path

import httpx
import psutil
import pytest

from dream.gateway import upstreams
from dream.gateway.service import DOWN_FOR
from dream.http.upstream import UpstreamConnectError, UpstreamPool
from dream.node.peers import PeerInfo
from dream.node.runtime import HTTP_SOCKET
from dream.testing.harness import UniverseHandle, until, wait_for
from dream.testing.project import deploy
from tests.serving.headers_project import FQDN, write_project
from tests.serving.test_gateway_proxy import OK, FakePeers, call, gateway, read_request
from tests.serving.test_gateway_proxy import run as run
from tests.serving.test_gateway_resilience import Watcher, pong, replacement_held

SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "gateway": {}, "substrate": {}},
    "Simples": {},
}
# The suite's raw rerun forces the TCP hop: the e2e test then checks that one.
TCP = os.environ.get(upstreams.ENV, "").strip().lower() == "tcp"


@pytest.fixture(scope="module")
def universe(module_universe_factory, tmp_path_factory: pytest.TempPathFactory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    universe = module_universe_factory("unixhop", config=SHAPE)
    deploy(universe, write_project(tmp_path_factory.mktemp("headers-project")))
    return universe


def hops(universe: UniverseHandle, substrate_pid: int, path: str) -> tuple[int, int]:
    """(Unix connections accepted on the substrate's socket, the gateway's TCP connections to the
    substrate's http port), as the kernel lists them."""
    unix = [
        c for c in psutil.Process(substrate_pid).net_connections("unix") if c.laddr == path and c.raddr == ""
    ]
    accepted = len(unix) - 1  # the listening socket is listed with the same address
    port = universe.port("substrate")
    gateway = psutil.Process(int(universe.node("gateway")["pid"]))
    tcp = [c for c in gateway.net_connections("tcp") if c.raddr and c.raddr.port == port]
    return accepted, len(tcp)


def test_the_gateway_relays_on_the_substrates_unix_socket_and_survives_its_restart(
    universe: UniverseHandle,
) -> None:
    root = Path(universe.client.status()[universe.name]["root"])
    path = str(root / "substrate-0" / HTTP_SOCKET)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    url = f"http://127.0.0.1:{universe.port('gateway')}/ping"
    host = {"host": FQDN}

    def served(client: httpx.Client, pid: int) -> bool:
        answers = [client.get(url, headers=host) for _ in range(20)]
        return all(a.text == "PONG" for a in answers) and hops(universe, pid, path) != (0, 0)

    with httpx.Client(timeout=30) as client:
        node = wait_for(lambda: (n := universe.node("substrate"))["alive"] and n, "the substrate to run")
        pid = int(node["pid"])
        wait_for(lambda: served(client, pid), "the gateway to serve the ping")
        accepted, tcp = hops(universe, pid, path)
        assert (accepted > 0, tcp) == ((False, tcp) if TCP else (True, 0)), (accepted, tcp)
        if TCP:
            assert tcp > 0

        # Killed: its socket file stays, with nothing listening (ECONNREFUSED): a down mark.
        with Watcher(universe.port("gateway")) as watcher:
            with replacement_held(pid):
                os.kill(pid, signal.SIGKILL)
                wait_for(
                    lambda: watcher.last_mark() is not None,
                    "the gateway to find the substrate refusing",
                    every=0.005,
                )
                assert node["id"] in universe.health("gateway")["down"]
            wait_for(
                lambda: (n := universe.node("substrate"))["alive"] and int(n["pid"]) != pid,
                "the daemon to restart the substrate",
                timeout=60,
            )
            wait_for(lambda: pong(universe.port("substrate")), "the restarted substrate to serve", timeout=60)
            wait_for(
                lambda: watcher.first_served_after(watcher.last_mark()),
                "the gateway to serve again",
                timeout=60,
            )
        assert [status for _, status, _ in watcher.seen if status not in (200, 502)] == []
        new = int(universe.node("substrate")["pid"])
        wait_for(lambda: served(client, new), "the gateway to use the new substrate")
        accepted, tcp = hops(universe, new, path)
        assert (accepted > 0, tcp == 0) == (not TCP, not TCP), (accepted, tcp)
        assert node["id"] not in universe.health("gateway")["down"]


# -- the pool and the down marks on a plain Unix socket server ---------------------------------------


async def ok_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """OK to every request on the connection."""
    try:
        while True:
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass


def test_the_pool_speaks_http_on_a_unix_socket_and_a_missing_or_dead_one_is_refused(
    run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        path = str(tmp_path / "up.sock")
        async with UpstreamPool() as pool:
            with pytest.raises(UpstreamConnectError) as missing:
                await pool.request(path, 8000, "GET", b"/", [])
            assert missing.value.refused
            assert str(missing.value) == f"cannot connect to {path}: No such file or directory"
            server = await asyncio.start_unix_server(ok_server, path)
            for _ in range(3):
                status, _, body = await pool.request(path, 8000, "GET", b"/", [(b"host", b"x")])
                assert (status, body) == (200, b"ok")
            assert pool.opened == 1  # kept alive
            server.close()
            await server.wait_closed()
        # A socket file nobody listens on (a killed node's).
        dead = socket.socket(socket.AF_UNIX)
        dead.bind(str(tmp_path / "dead.sock"))
        dead.close()
        async with UpstreamPool() as pool:
            with pytest.raises(UpstreamConnectError) as refused:
                await pool.request(str(tmp_path / "dead.sock"), 8000, "GET", b"/", [])
            assert refused.value.refused and str(refused.value).endswith(": Connection refused")

    run(scenario)


class SocketPeers(FakePeers):
    """Substrates that advertise a Unix socket for their http port."""

    def __init__(self, substrates: dict[str, tuple[int, bool, bool]], sockets: dict[str, str]) -> None:
        super().__init__(substrates)
        self.sockets = sockets

    async def discover(self, name: str | None = None, *, fresh: bool = False) -> list[PeerInfo]:
        found = await super().discover(name, fresh=fresh)
        for peer in found:
            peer.sockets = {"http": self.sockets[peer.id]}
        return found


def test_a_substrate_whose_socket_is_gone_is_marked_down_and_used_again_once_it_listens(
    run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    if TCP:
        pytest.skip(f"{upstreams.ENV}=tcp: the gateway does not use the socket")

    async def scenario() -> None:
        path = str(tmp_path / "back.sock")
        # The TCP port is never listened on: only the socket serves.
        async with gateway(tmp_path, {"back": (1, True, True)}) as app:
            app.peers = SocketPeers({"back": (1, True, True)}, {"back": path})  # type: ignore[assignment]
            status, _, body = await call(app, "GET", "/ok")
            assert status == 502
            assert body == (
                f"every substrate failed: back: cannot connect to {path}: No such file or directory".encode()
            )
            assert app.health()["down"] == ["back"] and set(app.probes) == {"back"}
            marked = asyncio.get_running_loop().time()
            server = await asyncio.start_unix_server(ok_server, path)
            try:
                await until(lambda: app.health()["down"] == [], timeout=DOWN_FOR * 0.75)
                assert asyncio.get_running_loop().time() < marked + DOWN_FOR
                status, headers, body = await call(app, "GET", "/ok")
                assert (status, body, headers[b"x-substrate-peer"]) == (200, b"ok", [b"back"])
            finally:
                server.close()

    run(scenario)


def test_without_a_socket_or_with_tcp_forced_the_gateway_uses_the_port() -> None:
    peer = PeerInfo("s", "substrate", "service", 0, 0, {"http": 8000, "p2p": 1}, "u")
    assert upstreams.host_of(peer, True) == "127.0.0.1"  # an older substrate advertises none
    peer.sockets = {"http": "/run/s/http.sock"}
    assert upstreams.host_of(peer, True) == "/run/s/http.sock"
    assert upstreams.host_of(peer, False) == "127.0.0.1"
    # An older peer's announce (no `sockets`) is read as one without.
    older = {k: v for k, v in peer.public().items() if k != "sockets"}
    assert PeerInfo.from_dict(older).sockets == {}
    assert PeerInfo.from_dict(peer.public()).sockets == {"http": "/run/s/http.sock"}
