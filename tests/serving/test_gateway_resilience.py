"""The gateway's view of its substrates in a real universe: one bad answer fails one request, not the
substrate; a substrate killed and restarted by the daemon is used again as soon as it listens."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil
import pytest

from dream.clients.substrate import MATCH
from dream.gateway.service import DOWN_FOR
from dream.testing.harness import UniverseHandle, wait_for
from dream.testing.project import deploy
from tests.serving.headers_project import FQDN, write_project

pytestmark = pytest.mark.e2e

SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "gateway": {}, "substrate": {}},
    "Simples": {},
}
# A restart is judged when the substrate serves again within this of the gateway's last down mark.
JUDGED = DOWN_FOR * 0.75
STANDIN_HOST = "standin.example.com"
STANDIN_ID = "standin-substrate"
OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
# A NUL in a header value: every HTTP/1.1 parser (llhttp's in the gateway) refuses the whole response.
BAD = b"HTTP/1.1 200 OK\r\nx-bad: a\x00b\r\ncontent-length: 2\r\n\r\nok"


@pytest.fixture(scope="module")
def universe(module_universe_factory, tmp_path_factory: pytest.TempPathFactory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    universe = module_universe_factory("resilience", config=SHAPE)
    deploy(universe, write_project(tmp_path_factory.mktemp("headers-project")))
    return universe


@pytest.fixture
def gateway(universe: UniverseHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{universe.port('gateway')}", timeout=30) as client:
        yield client


# -- a stand-in substrate --------------------------------------------------------------------------


class _Handler(socketserver.StreamRequestHandler):
    """HTTP/1.1 on a kept-alive connection, just enough to answer the gateway."""

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)  # type: ignore[attr-defined]

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            target = line.split(b" ")[1].decode()
            length = 0
            while (header := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.rfile.read(length)
            answer = self.server.answer(urlsplit(target))  # type: ignore[attr-defined]
            if answer is None:
                return  # dropped after the request came
            self.wfile.write(answer)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.port = self.server_address[1]
        self.connections: set[socket.socket] = set()

    def close(self) -> None:
        """Stop listening and end the connections kept alive: nothing of it answers any more."""
        self.shutdown()
        self.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class StandIn:
    """A real TCP server announced to seer as a substrate, for answers no function can produce.

    Its p2p port says it serves STANDIN_HOST (and nothing else); on its HTTP port `/bad` is answered
    with bytes no parser accepts, `/drop` is read and the connection closed, anything else `200 ok`.
    Since the substrate checks every header a function sets, this is the only way to get them.
    """

    def __init__(self, universe: UniverseHandle) -> None:
        self.universe = universe
        self.http = _Server(self._http)
        self.p2p = _Server(self._p2p)
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=server.serve_forever, daemon=True) for server in (self.http, self.p2p)
        ]
        self.threads.append(threading.Thread(target=self._heartbeat, daemon=True))

    def _http(self, url: Any) -> bytes | None:
        return {"/bad": BAD, "/drop": None}.get(url.path, OK)

    def _p2p(self, url: Any) -> bytes:
        match = url.path == MATCH and parse_qs(url.query).get("host") == [STANDIN_HOST]
        body = json.dumps({"match": match, "warm": match}).encode()
        return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b" % (
            len(body),
            body,
        )

    def _heartbeat(self) -> None:
        me = {
            "id": STANDIN_ID,
            "name": "substrate",
            "kind": "service",
            "index": 9,
            "pid": os.getpid(),
            "ports": {"http": self.http.port, "p2p": self.p2p.port},
            "universe": self.universe.name,
        }
        seer = f"http://127.0.0.1:{self.universe.port('seer', 'p2p')}/peers/announce"
        with self.universe.node_client(peer=STANDIN_ID) as client:
            while not self.stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    client.post(seer, json=me)
                self.stop.wait(1.0)

    def __enter__(self) -> StandIn:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for server in (self.http, self.p2p):
            server.close()
        for thread in self.threads:
            thread.join(timeout=10)


def gateway_down(universe: UniverseHandle) -> list[str]:
    """The substrates the gateway holds down, from its health probe."""
    return list(universe.health("gateway")["down"])


def test_a_bad_answer_fails_that_request_alone(universe: UniverseHandle, gateway: httpx.Client) -> None:
    host = {"host": STANDIN_HOST}
    with StandIn(universe):
        wait_for(
            lambda: gateway.get("/ok", headers=host).headers.get("x-substrate-peer") == STANDIN_ID,
            "the gateway to route the stand-in's host to it",
        )
        bad = gateway.get("/bad", headers=host)
        assert bad.status_code == 502
        assert bad.text.startswith(
            f"substrate {STANDIN_ID} answered with a response that is not valid HTTP: bad response from 127.0.0.1:"
        )
        assert "Invalid header value char" in bad.text
        dropped = gateway.post("/drop", headers=host, content=b"once")
        assert dropped.status_code == 502
        assert dropped.text.startswith(f"substrate {STANDIN_ID} dropped the request: ")

        def get(path: str) -> tuple[str, int, str, str]:
            response = gateway.get(path, headers=host)
            return path, response.status_code, response.text, response.headers.get("x-substrate-peer", "")

        # Bad answers among many good ones, at the same time: only the bad ones fail.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(get, ["/bad" if n % 5 == 0 else f"/ok/{n}" for n in range(200)]))
        failed = [a for a in answers if a[0] != "/bad" and a[1:] != (200, "ok", STANDIN_ID)]
        assert failed == []
        assert {a[1] for a in answers if a[0] == "/bad"} == {502}
        assert gateway_down(universe) == []
        # The real substrate, behind the same gateway, never noticed.
        ping = gateway.get("/ping", headers={"host": FQDN})
        assert (ping.status_code, ping.text) == (200, "PONG")


def pong(port: int) -> bool:
    """Whether the substrate's own port answers the ping (it may not listen yet)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": FQDN}, timeout=10).text == "PONG"
    except httpx.TransportError:
        return False


def listens(port: int) -> bool:
    """Whether something accepts connections on the port (a new substrate may not answer yet)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Watcher:
    """Asks the gateway for the ping without pause, noting when each request left and what came back:
    an answer saying `Connection refused` is the gateway marking the substrate down then and there."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/ping"
        self.seen: list[tuple[float, int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(headers={"host": FQDN}, timeout=30) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                response = client.get(self.url)
                self.seen.append((sent, response.status_code, response.text))
                self.stop.wait(0.005)

    def last_mark(self) -> float | None:
        """When the last request that found the substrate refusing left (its mark is no older)."""
        return max((sent for sent, _, text in self.seen if "Connection refused" in text), default=None)

    def first_served_after(self, mark: float | None) -> float | None:
        """When the first request after `mark` that was served (PONG) left."""
        return min(
            (sent for sent, status, _ in self.seen if status == 200 and sent > (mark or 0.0)), default=None
        )

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


@contextlib.contextmanager
def replacement_held(node_pid: int) -> Iterator[None]:
    """The zygote that forks a node's replacement stopped (SIGSTOP) until the block ends, so the node's
    death leaves its port closed for as long as the block takes."""
    zygote = psutil.Process(node_pid).ppid()
    assert zygote not in (0, 1, os.getpid()), f"node {node_pid} is not a child of a zygote (parent {zygote})"
    os.kill(zygote, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(zygote, signal.SIGCONT)


def test_a_restarted_substrate_is_used_again_as_soon_as_it_listens(
    universe: UniverseHandle, gateway: httpx.Client
) -> None:
    host = {"host": FQDN}
    port = universe.port("substrate")
    unjudged: list[str] = []
    # While the substrate is down, a request finds it refusing and marks it down for DOWN_FOR, and a
    # request after that marks it again: the last mark before it listens again is known from the
    # answers. Were the gateway to wait for the mark to run out, no request sent before that mark +
    # DOWN_FOR would reach the new substrate. A restart is judged when the substrate listens again well
    # before that (within JUDGED); what the test checks is when the first request it served was sent,
    # not when it was answered (a new substrate's first answer waits for the function to be loaded,
    # which takes seconds on a loaded machine). The replacement is held until the gateway has found the
    # port refusing: on a quiet machine it listened again before any request came. Up to 4 deaths are
    # tried (the daemon leaves a node down after more than 5 in 30 s).
    for _ in range(4):
        node = wait_for(
            lambda: (n := universe.node("substrate"))["alive"] and pong(port) and n,
            "the substrate to serve",
            timeout=30,
        )
        with Watcher(universe.port("gateway")) as watcher:
            with replacement_held(int(node["pid"])):
                os.kill(int(node["pid"]), signal.SIGKILL)
                wait_for(lambda: not listens(port), "the killed substrate to stop listening", every=0.005)
                wait_for(
                    lambda: watcher.last_mark() is not None,
                    "the gateway to find the substrate refusing",
                    every=0.005,
                )
            wait_for(lambda: listens(port), "the restarted substrate to listen", timeout=60, every=0.005)
            back = time.monotonic()
            wait_for(
                lambda: watcher.first_served_after(watcher.last_mark()),
                "the gateway to serve again",
                timeout=60,
            )
        marked = watcher.last_mark()  # no request is refused once it listens: this mark is the last
        if marked is None or back - marked > JUDGED:
            unjudged.append(
                "not marked" if marked is None else f"listened {back - marked:.2f}s after the mark"
            )
            continue
        sent = watcher.first_served_after(marked)
        assert sent is not None
        assert sent < marked + DOWN_FOR, f"first served request sent {sent - back:.2f}s after it listened"
        answer = gateway.get("/ping", headers=host)
        assert answer.headers["x-substrate-peer"] == node["id"]
        assert node["id"] not in gateway_down(universe)
        bad = [(status, text) for _, status, text in watcher.seen if status not in (200, 502)]
        assert bad == []  # while it was down: 502s that say why, nothing else
        return
    pytest.fail(f"no restart could be judged: {unjudged}")
