"""Ports chosen by the kernel, and checks that a requested port is free."""

from __future__ import annotations

import os
import socket

from dream.errors import DreamError

# A port from the kernel is free when chosen; another program (an outgoing connection's local port,
# another daemon's node) may bind it before the node listens on it. The node then exits with
# `exits.PORT_TAKEN` and its start is made again on new ports, this many times at most.
PORT_RETRIES = 3


def port_is_free(port: int, *, udp: bool = False) -> bool:
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port(*, udp: bool = False, avoid: set[int] | None = None) -> int:
    """A port the kernel hands out, bindable over TCP (and UDP when the node serves DNS)."""
    avoid = avoid or set()
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in avoid and (not udp or port_is_free(port, udp=True)):
            return port
    raise DreamError("the kernel gave no free port after 50 tries; is the machine out of ports?")


# Test hook: the daemon listens on the first port it chose for each node of this service, just before the
# node starts, as another program binding it in between would; the start on new ports is then tested.
TAKE_PORT_ENV = "DREAM_TEST_TAKE_PORT_OF"


def take_ports_for_test(nodes: list[tuple[str, dict[str, int]]]) -> list[socket.socket]:
    """The sockets holding the ports TAKE_PORT_ENV names ((service, ports) of the nodes about to start);
    none when it is unset. The caller closes them once the nodes have started."""
    service = os.environ.get(TAKE_PORT_ENV)
    held = []
    for name, ports in nodes:
        if name == service and ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", next(iter(ports.values()))))
            sock.listen(1)
            held.append(sock)
    return held


def require_free(port: int, what: str, *, udp: bool = False) -> None:
    if not port_is_free(port, udp=udp):
        raise DreamError(
            f"could not bind {what} port {port}: address already in use; stop what listens there "
            f"or choose another port with --bind"
        )
