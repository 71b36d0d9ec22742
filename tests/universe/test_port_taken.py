"""A port the daemon chose for a node, bound by another program before the node listens on it (an
outgoing connection's local port, another daemon's node): the node says so and exits, and the daemon
starts the nodes again with new ports for it. `DREAM_TEST_TAKE_PORT_OF` has the daemon itself listen on the
node's first port just before it starts, as that other program would."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from dream.daemon.ports import TAKE_PORT_ENV, free_port
from dream.daemon.universe import exit_reason
from dream.errors import DreamError
from dream.node import exits
from dream.testing import harness
from dream.testing.harness import DaemonProcess, UniverseHandle

pytestmark = pytest.mark.e2e

SHAPE = {"Services": {"hoarder": {}, "tns": {}}, "Simples": {}}


def test_a_taken_port_is_chosen_again_and_the_universe_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TAKE_PORT_ENV, "hoarder")
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        client = daemon.client()
        client.new_universe("taken", SHAPE)
        universe = UniverseHandle(client, "taken")
        assert universe.health("hoarder")["name"] == "hoarder"
        assert universe.health("tns")["name"] == "tns"
        log = client.logs("taken", "hoarder")["text"]
        refused = re.search(
            r"hoarder@taken cannot start: .*cannot listen on 127\.0\.0\.1:(\d+): Address already in use", log
        )
        assert refused, log
        assert "was taken by another program at start-up; it starts again on" in log
        assert int(refused.group(1)) not in universe.node("hoarder")["ports"].values()
        assert "hoarder@taken could not listen on a port chosen for it" in daemon.log()
    finally:
        daemon.stop()


def test_a_port_the_user_chose_is_not_chosen_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TAKE_PORT_ENV, "auth")  # its first port is `http`, the one the user chose
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        client = daemon.client()
        chosen = free_port()
        shape = {"Services": {"auth": {"Others": {"http": chosen}}, "tns": {}}, "Simples": {}}
        with pytest.raises(DreamError) as failed:
            client.new_universe("pinned", shape)
        assert "auth@pinned exited during start-up (exit code 4)" in str(failed.value)
        assert f"cannot listen on 127.0.0.1:{chosen}: Address already in use" in str(failed.value)
        assert "could not listen on a port chosen for it" not in daemon.log()
    finally:
        daemon.stop()


def test_a_daemon_port_taken_before_the_daemon_listens_is_chosen_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other program holds the port the kernel gave the harness first (bound, as an outgoing
    # connection's local port is; not listening, so nothing answers there meanwhile).
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        taken = other.getsockname()[1]
        given = iter([taken])
        kernel = harness.free_port
        monkeypatch.setattr(harness, "free_port", lambda **kw: next(given, 0) or kernel(**kw))
        daemon = harness.DaemonProcess(tmp_path / "home").start()
        try:
            assert daemon.port != taken and daemon.client().ping()
        finally:
            daemon.stop()
        # A port the test chose itself is never moved: the start fails with the daemon's sentence.
        with pytest.raises(DreamError, match=f"port {taken} is taken by another program"):
            harness.DaemonProcess(tmp_path / "home", port=taken).start()


def test_a_node_whose_port_is_taken_when_it_restarts_is_said_to_be_so() -> None:
    # A restart keeps the node's ports (its URLs stay), so a port taken meanwhile is not moved: the
    # reason shown by `dream status` (and, past the crash-loop limit, why it was left down) says why.
    assert exit_reason(exits.PORT_TAKEN) == (
        "exited with code 4: another program has one of its ports (its log names it)"
    )
    assert exit_reason(exits.CANNOT_START) == "exited with code 3"
