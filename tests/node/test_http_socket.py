"""A node's http port on a Unix socket too (`Node.http_socket`): bound in the node's directory up to the
system's path limit (MAX_SOCKET_PATH), TCP only past it with a log line; a socket a dead node left
behind is replaced, and a stop removes it; the announce names it and the registries take it."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import pytest

from dream.daemon.routes.registry import peer_from_body
from dream.errors import DreamError
from dream.node.peers import ANNOUNCE
from dream.node.runtime import HTTP_SOCKET, MAX_SOCKET_PATH, Node
from tests.serving.test_gateway_proxy import node_config


def node_in(root: Path) -> Node:
    root.mkdir(parents=True, exist_ok=True)
    return Node(node_config("substrate", root))


def root_for(tmp_path: Path, length: int) -> Path:
    """A directory under tmp_path whose http socket path is `length` bytes long."""
    pad = length - len(str(tmp_path)) - len("/") - len("/" + HTTP_SOCKET)
    assert pad > 0
    return tmp_path / ("d" * pad)


def test_the_socket_is_bound_up_to_the_limit_and_tcp_only_past_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        at = node_in(root_for(tmp_path / "a", MAX_SOCKET_PATH))
        sock = at._bind_http_socket()
        assert sock is not None
        path = at.unix_sockets["http"]
        assert len(path) == MAX_SOCKET_PATH and sock.getsockname() == path
        assert at.me().sockets == {"http": path}
        sock.close()
        await at.peers.close()

        past = node_in(root_for(tmp_path / "b", MAX_SOCKET_PATH + 1))
        with caplog.at_level(logging.INFO, logger="dream.substrate"):
            assert past._bind_http_socket() is None
        assert past.unix_sockets == {} and past.me().sockets == {}
        too_long = os.path.join(past.config.root, HTTP_SOCKET)
        assert (
            f"http is served on TCP only: the Unix socket path {too_long} is longer than {MAX_SOCKET_PATH} bytes"
            in caplog.text
        )
        await past.peers.close()

    asyncio.run(scenario())


def test_a_socket_left_behind_is_replaced_and_a_stop_removes_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        node = node_in(tmp_path / "n")
        left = socket.socket(socket.AF_UNIX)
        left.bind(str(tmp_path / "n" / HTTP_SOCKET))  # a killed node's: nothing listens on it
        left.close()
        sock = node._bind_http_socket()
        assert sock is not None
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(node.unix_sockets["http"])  # the new one accepts
        sock.close()
        await node._shutdown()  # a stop removes it: a gateway then finds no such path (a down mark)
        assert not os.path.exists(node.unix_sockets["http"])

    asyncio.run(scenario())


def test_the_announce_carries_the_sockets_and_older_announces_are_read() -> None:
    base = {"id": "s", "name": "substrate", "kind": "service", "index": 0, "pid": 1, "universe": "u"}
    older = {**base, "ports": {"http": 8000, "p2p": 8001}}
    assert (
        ANNOUNCE.parse(
            b'{"id": "s", "name": "substrate", "kind": "service", "index": 0, "pid": 1, '
            b'"ports": {"p2p": 8001}, "universe": "u"}',
            "announce",
        )["sockets"]
        == {}
    )
    assert peer_from_body(older).sockets == {}
    newer = {**older, "sockets": {"http": "/r/http.sock"}}
    assert peer_from_body(newer).sockets == {"http": "/r/http.sock"}
    with pytest.raises(DreamError, match="announce: `sockets` must be a JSON object of paths, got"):
        peer_from_body({**older, "sockets": {"http": 3}})
