"""Benchmark: the kernel's cost of one hop, loopback TCP against a Unix socket, as the gateway pays it.

One process writes a request-sized message (200 bytes) on one end of a connected pair and reads it on
the other, then an answer (180 bytes) back: what the gateway and a substrate do per relayed request.
Both ends are in this process, so its CPU time counts both sides' work, as on a machine whose cores the
gateway and the substrate share. Prints the CPU time per write + read, the median of `rounds`.

Usage: .venv/bin/python bench/socket_hop.py [round trips per round, default 100000] [rounds, default 3]
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

REQUEST = b"x" * 200
ANSWER = b"y" * 180
Pair = tuple[socket.socket, socket.socket]


def tcp_pair(_: str) -> Pair:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    for sock in (client, server):  # as the gateway and the server set them
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, server


def unix_pair(directory: str) -> Pair:
    path = os.path.join(directory, "hop.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen()
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        server, _ = listener.accept()
    os.unlink(path)
    return client, server


def per_hop(make: Callable[[str], Pair], directory: str, trips: int) -> float:
    """CPU µs per write + read over a pair `make` connects."""
    client, server = make(directory)
    with client, server:
        started = time.process_time()
        for _ in range(trips):
            client.sendall(REQUEST)
            server.recv(65536)
            server.sendall(ANSWER)
            client.recv(65536)
        return (time.process_time() - started) / trips / 2 * 1e6


def main() -> None:
    trips = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"load average {os.getloadavg()[0]:.2f}; {trips:,} round trips x {rounds} rounds")
    found: dict[str, list[float]] = {"tcp": [], "unix": []}
    with tempfile.TemporaryDirectory(prefix="dream-bench-hop-") as directory:
        for _ in range(rounds):  # alternated: a machine whose speed drifts affects both alike
            found["tcp"].append(per_hop(tcp_pair, directory, trips))
            found["unix"].append(per_hop(unix_pair, directory, trips))
    tcp, unix = (statistics.median(found[name]) for name in ("tcp", "unix"))
    print(f"loopback TCP: {tcp:.2f} µs of CPU per write + read")
    print(f"Unix socket:  {unix:.2f} µs of CPU per write + read ({unix / tcp:.2f} of TCP)")


if __name__ == "__main__":
    main()
