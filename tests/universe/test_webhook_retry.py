"""The git host's push webhooks: a failed delivery is an error in its log, tried again on the backoff
schedule (DREAM_WEBHOOK_BACKOFF), shown attempt by attempt in the deliveries list, and resumed when
the git host restarts."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dream.clients import Clients, ServiceError, githost
from dream.daemon.ports import free_port
from dream.http.webhooks import verify_signature
from dream.testing.harness import DaemonProcess, UniverseHandle, git, wait_for
from tests.services.node_clients import call

pytestmark = pytest.mark.e2e

GIT_ONLY = {"Services": {}, "Simples": {"git": {"Clients": {}}}}
SECRET = "hook-secret"


class Receiver:
    """A webhook receiver on a port of its own: answers each path with the next status of its script
    (the last one repeats) and keeps every request it got."""

    def __init__(self, scripts: dict[str, list[int]], port: int = 0) -> None:
        self.scripts = scripts
        self.got: dict[str, list[dict[str, Any]]] = {path: [] for path in scripts}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got = receiver.got[self.path]
                got.append({"headers": dict(self.headers), "body": body})
                script = receiver.scripts[self.path]
                status = script[min(len(got), len(script)) - 1]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"seen": true}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def git_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """start(backoff) → a universe with only the git host, in a daemon of its own whose environment sets
    DREAM_WEBHOOK_BACKOFF."""
    daemons: list[DaemonProcess] = []

    def start(backoff: str) -> UniverseHandle:
        monkeypatch.setenv("DREAM_WEBHOOK_BACKOFF", backoff)
        daemon = DaemonProcess(tmp_path / f"home-{len(daemons)}")
        daemons.append(daemon)
        daemon.start()
        client = daemon.client()
        client.new_universe("hooks", GIT_ONLY)
        return UniverseHandle(client, "hooks")

    try:
        yield start
    finally:
        for daemon in daemons:
            daemon.stop()


def repository_with_hooks(universe: UniverseHandle, urls: list[str]) -> dict[str, Any]:
    async def create(clients: Clients) -> dict[str, Any]:
        repo = await clients.git.create_repository("test", "hooked")
        for url in urls:
            await clients.git.add_hook(repo["id"], url, SECRET)
        return dict(repo)

    return call(universe, create)


def push(repo: dict[str, Any], work: Path) -> None:
    work.mkdir()
    (work / "README").write_text("hello\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "README"],
        ["commit", "-qm", "first"],
        ["push", "-q", repo["clone_url"], "main"],
    ):
        git(*args, cwd=work)


def deliveries(universe: UniverseHandle, repo: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """By target URL; none while the git host is restarting."""
    try:
        found = call(universe, lambda clients: clients.git.deliveries(repo["id"]))
    except ServiceError as exc:
        if exc.status is not None:
            raise
        return {}
    return {d["url"]: dict(d) for d in found}


def git_log(universe: UniverseHandle) -> str:
    return str(universe.client.logs(universe.name, "git")["text"])


def test_failed_deliveries_are_errors_retried_on_the_schedule_then_given_up(
    git_host: Any, tmp_path: Path
) -> None:
    universe = git_host("0.2,0.4")  # 3 attempts in all
    receiver = Receiver({"/flaky": [503, 200], "/refuse": [400]})
    try:
        dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
        flaky, refuse = receiver.url("/flaky"), receiver.url("/refuse")
        repo = repository_with_hooks(universe, [dead, flaky, refuse])
        push(repo, tmp_path / "work")
        done = wait_for(
            lambda: (
                (found := deliveries(universe, repo))
                and len(found) == 3
                and all(d["state"] in ("delivered", "failed") for d in found.values())
                and found
            ),
            "the three deliveries to end",
            timeout=60,
        )
    finally:
        receiver.close()

    gone = done[dead]
    assert (gone["state"], gone["status"], gone["next_attempt"]) == ("failed", 0, None)
    assert len(gone["attempts"]) == 3, "one attempt, then one per wait of the schedule"
    assert all(a["status"] == 0 and a["error"].startswith("ConnectError") for a in gone["attempts"])
    waits = [b["at"] - a["at"] for a, b in zip(gone["attempts"], gone["attempts"][1:], strict=False)]
    assert waits[0] >= 0.2 and waits[1] >= 0.4

    recovered = done[flaky]
    assert recovered["state"] == "delivered"
    assert [a["status"] for a in recovered["attempts"]] == [503, 200]
    got = receiver.got["/flaky"]
    assert got[0]["headers"]["X-GitHub-Delivery"] == got[1]["headers"]["X-GitHub-Delivery"]
    assert all(verify_signature(g["body"], SECRET, g["headers"]) for g in got)

    refused = done[refuse]
    assert refused["state"] == "failed" and [a["status"] for a in refused["attempts"]] == [400]
    assert len(receiver.got["/refuse"]) == 1, "a refusal is not tried again"

    log = git_log(universe)
    what = f"of push test/hooked refs/heads/main@{recovered['after'][:8]}"
    assert (
        f"ERROR dream.git: delivery {gone['delivery']} {what} to {dead} failed (attempt 1 of 3): ConnectError"
        in log
    )
    assert "trying again in 0.2s" in log and "trying again in 0.4s" in log
    assert f"to {dead} failed: ConnectError" in log and "gave up after 3 attempts" in log
    assert f"to {flaky} failed (attempt 1 of 3): HTTP 503" in log
    assert f"to {refuse} failed: HTTP 400" in log and "not tried again (the receiver refused it)" in log


def test_a_pending_delivery_is_resumed_when_the_git_host_restarts(git_host: Any, tmp_path: Path) -> None:
    universe = git_host("0.2,600")  # after two failures, the next attempt is far away
    port = free_port()
    target = f"http://127.0.0.1:{port}/late"
    repo = repository_with_hooks(universe, [target])
    push(repo, tmp_path / "work")
    waiting = wait_for(
        lambda: (d := deliveries(universe, repo).get(target)) and len(d["attempts"]) == 2 and d,
        "two failed attempts",
        timeout=30,
    )
    assert waiting["state"] == "retrying" and waiting["next_attempt"] > waiting["attempts"][-1]["at"] + 500
    receiver = Receiver({"/late": [202]}, port=port)
    try:
        # The git host dies (its retry with it) and the daemon restarts it: the delivery goes on.
        os.kill(universe.node("git")["pid"], signal.SIGKILL)
        done = wait_for(
            lambda: (d := deliveries(universe, repo).get(target)) and d["state"] == "delivered" and d,
            "the resumed delivery",
            timeout=60,
        )
    finally:
        receiver.close()
    assert [a["status"] for a in done["attempts"]] == [0, 0, 202]
    assert f"resuming delivery {done['delivery']} to {target}" in git_log(universe)


def test_a_bad_backoff_setting_is_an_error_in_the_log_and_the_default_is_used(git_host: Any) -> None:
    universe = git_host("soon")
    assert (
        "ERROR dream.git: DREAM_WEBHOOK_BACKOFF='soon' is not a comma-separated list of waits in seconds "
        "(each 0 to 3600); using the default 1,2,4,8,16,32"
    ) in git_log(universe)


def test_moving_hooks_needs_a_map_of_urls(git_host: Any) -> None:
    universe = git_host("1")
    with universe.node_client() as http:
        url = f"http://127.0.0.1:{universe.port('git', 'p2p')}{githost.HOOKS_MOVED}"
        for body in ({"moves": ["a"]}, {"moves": {"a": 1}}, {}):
            answer = http.post(url, json=body)
            assert answer.status_code == 400
            assert answer.json()["error"] == "`moves` must be a JSON object of old base URL → new base URL"
        assert http.post(url, content=b"{not json").status_code == 400
    repo = repository_with_hooks(universe, ["http://127.0.0.1:1111/github/1", "http://127.0.0.1:11112/x"])
    moves = {"moves": {"http://127.0.0.1:1111": "http://127.0.0.1:2222"}}
    assert call(universe, lambda clients: clients.git.hooks_moved(moves["moves"])) == 1
    hooks = call(universe, lambda clients: clients.git.hooks(repo["id"]))
    # Only the URL on the moved port follows, not one whose port starts with the same digits.
    assert sorted(h["url"] for h in hooks) == ["http://127.0.0.1:11112/x", "http://127.0.0.1:2222/github/1"]
    assert all("secret" not in h for h in hooks)
