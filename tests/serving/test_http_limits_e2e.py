"""HTTP limits on a real universe: an oversized head sent to the substrate or the gateway gets its 431, the
node keeps serving, and a 100 MB header leaves the node's memory as it was."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from dream.http.server import MAX_HEAD, MAX_HEADER_LINE
from dream.testing.harness import UniverseHandle

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "fixtures" / "projects" / "hello"
HOST = {"host": "hello.computers.com"}
SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "gateway": {}, "substrate": {}},
    "Simples": {},
}
MB = 1024 * 1024


@pytest.fixture(scope="module")
def universe(module_universe_factory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    universe = module_universe_factory("httplimits", config=SHAPE)
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(HELLO), ""])
    return universe


def rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def pong(port: int) -> None:
    response = httpx.get(f"http://127.0.0.1:{port}/ping", headers=HOST, timeout=10)
    assert (response.status_code, response.text) == (200, "PONG")


def send_huge_header(port: int, size: int) -> bytes:
    """Sends a head with one `size`-byte header; returns the answer's status line, read once the first
    4 MB are sent (the node answers while the rest is still to come), and pings in between the rest."""
    block = b"x" * MB
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nhost: hello.computers.com\r\nx-big: ")
        for _ in range(4):
            sock.sendall(block)
        answer = sock.makefile("rb").readline()
        sent = 4 * MB
        try:
            while sent < size:
                for _ in range(8):
                    sock.sendall(block)
                    sent += MB
                pong(port)  # served while the big one is still being sent
        except (BrokenPipeError, ConnectionResetError):
            pass  # the node stopped reading the refused connection: fine, the rest goes nowhere
    return answer


@pytest.mark.parametrize("node", ["substrate", "gateway"])
def test_an_oversized_head_is_a_431_and_the_node_keeps_serving(universe: UniverseHandle, node: str) -> None:
    port = universe.port(node)
    pong(port)
    url = f"http://127.0.0.1:{port}/ping"
    one_field = httpx.get(url, headers={**HOST, "cookie": "c=" + "x" * MAX_HEADER_LINE}, timeout=10)
    assert one_field.status_code == 431
    assert one_field.text.startswith("header field `cookie` too large"), one_field.text
    whole_head = httpx.get(url, headers={**HOST, "cookie": "c=" + "x" * MAX_HEAD}, timeout=10)
    assert whole_head.status_code == 431
    assert whole_head.text.startswith("request head too large"), whole_head.text
    pong(port)

    pid = int(universe.node(node)["pid"])
    before = rss(pid)
    answer = send_huge_header(port, 100 * MB)
    assert answer.startswith(b"HTTP/1.1 431 "), answer
    pong(port)
    grown = rss(pid) - before
    # The node read at most a head's worth of it: nothing like the 100 MB that were sent.
    assert grown < 32 * MB, f"{node} grew by {grown // MB} MB after a refused 100 MB header"
