"""The serving benchmark's relay floor (bench/relay_floor.c) relays like a real relay, so the floor it
reports is a real one: every byte both ways unchanged, one upstream connection per client connection
(keep-alive), to a Unix socket or a TCP port, and a side that goes away takes the other with it."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dream.daemon.ports import free_port
from dream.testing.harness import wait_for

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serving.py"
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nPONG"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_serving", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Accepting:
    """A listener whose connections are each handed to `take`, on a thread of its own, until it closes."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.take(conn)

    def take(self, conn: socket.socket) -> None:
        raise NotImplementedError


class Upstream(Accepting):
    """A server that keeps every byte each connection sent and answers each read with ANSWER."""

    def __init__(self, listener: socket.socket) -> None:
        self.received: list[bytearray] = []  # per connection, in the order they came
        self.ended: list[bytearray] = []  # the connections that ended, as received
        super().__init__(listener)

    def take(self, conn: socket.socket) -> None:
        got = bytearray()
        self.received.append(got)
        threading.Thread(target=self._serve, args=(conn, got), daemon=True).start()

    def _serve(self, conn: socket.socket, got: bytearray) -> None:
        with conn:
            while data := conn.recv(65536):
                got.extend(data)
                conn.sendall(ANSWER)
        self.ended.append(got)

    def used(self) -> list[bytearray]:
        """The connections that carried bytes (the fixture's readiness probe opens one that carries none)."""
        return [got for got in self.received if got]


@pytest.fixture(scope="module")
def relay_floor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = _bench().build_relay_floor(tmp_path_factory.mktemp("relay-floor"))
    assert binary is not None, "the system C compiler (cc) builds bench/relay_floor.c"
    return Path(binary)


@pytest.fixture(params=["unix", "tcp"])
def relayed(
    request: pytest.FixtureRequest, relay_floor: Path, tmp_path: Path
) -> Iterator[tuple[int, Upstream]]:
    if request.param == "unix":
        where = str(tmp_path / "http.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(where)
    else:
        listener = socket.create_server(("127.0.0.1", 0))
        where = str(listener.getsockname()[1])
    listener.listen(16)
    upstream = Upstream(listener)
    port = free_port()
    process = subprocess.Popen([str(relay_floor), str(port), where], stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: _listening(port), "the relay floor to listen", timeout=30)
        yield port, upstream
    finally:
        process.kill()
        process.wait(timeout=10)
        listener.close()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _exchange(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(ANSWER):
        chunk = sock.recv(65536)
        assert chunk, "the relay closed the connection"
        got += chunk
    return got


def test_bytes_go_through_unchanged_on_one_upstream_connection(relayed: tuple[int, Upstream]) -> None:
    port, upstream = relayed
    first = b"GET /ping HTTP/1.1\r\nHost: hello.computers.com\r\nX-Odd:  spaced \r\n\r\n"
    second = b"GET /ping?x=1 HTTP/1.1\r\nHost: other\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert _exchange(sock, first) == ANSWER
        assert _exchange(sock, second) == ANSWER
        wait_for(lambda: sum(map(len, upstream.used())) == len(first + second),
                 "the upstream to get both requests", timeout=10)  # fmt: skip
    assert [bytes(got) for got in upstream.used()] == [first + second]  # one connection, every byte as sent


def test_a_client_that_goes_away_closes_its_upstream_connection(relayed: tuple[int, Upstream]) -> None:
    port, upstream = relayed
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert _exchange(sock, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == ANSWER
    [used] = upstream.used()
    wait_for(
        lambda: any(got is used for got in upstream.ended), "the upstream connection to close", timeout=10
    )


def test_an_upstream_nobody_serves_closes_the_client(relay_floor: Path, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(relay_floor), str(port), str(tmp_path / "nobody.sock")], stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: _listening(port), "the relay floor to listen", timeout=30)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            # Closed, nothing relayed (a reset when the request was left unread).
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(100) == b""
    finally:
        process.kill()
        _, err = process.communicate(timeout=10)
    assert b"relay_floor: cannot reach" in err and b"nobody.sock" in err
