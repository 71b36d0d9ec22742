"""Kept universes (`--keep`) reloaded: the same ports when they are free, else every stored URL follows;
then a real `git push` from the project's working copy still builds."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.testing.harness import DaemonProcess, UniverseHandle, git, wait_for
from tests.services.node_clients import call

pytestmark = pytest.mark.e2e

SHAPE = {
    "Services": {
        "auth": {},
        "patrick": {},
        "monkey": {},
        "tns": {},
        "hoarder": {},
        "seer": {},
        "substrate": {},
    },
    "Simples": {"git": {"Clients": {}}},
}
BUILD_TIMEOUT = 120.0  # a WAT build takes about a second; this only bounds a broken pipeline


def ports_of(universe: UniverseHandle) -> dict[str, dict[str, int]]:
    return {n["name"]: n["ports"] for n in universe.nodes()}


def answer(universe: UniverseHandle, fqdn: str) -> str:
    try:
        response = httpx.get(f"http://127.0.0.1:{universe.port('substrate')}/ping", headers={"host": fqdn})
    except httpx.TransportError:
        return ""
    return response.text if response.status_code == 200 else ""


def create_and_build(universe: UniverseHandle, path: Path) -> dict[str, Any]:
    project = universe.client.new_project(universe.name, "hello", str(path), lang="wat")
    jobs = universe.client.fixture(universe.name, "pushAll", [project["id"], "", ""])["result"]["jobs"]
    assert [job["status"] for job in jobs] == ["success", "success"], jobs
    assert answer(universe, project["fqdn"]) == "PONG"
    return project


def push_change(universe: UniverseHandle, project: dict[str, Any], word: str) -> None:
    """Commit a new answer in the code working copy, `git push` it, and wait for it to be served."""
    assert len(word) == 4, "the WAT template writes 4 bytes"
    code = Path(project["path"]) / "code"
    source = code / "functions" / "ping_pong" / "main.wat"
    text = source.read_text()
    old = text[text.index("(data (i32.const 16) ") :].split('"')[1]
    source.write_text(text.replace(f'"{old}"', f'"{word}"'))
    git("commit", "-qam", f"answer {word}", cwd=code)
    git("push", "-q", "origin", "main", cwd=code)
    wait_for(
        lambda: answer(universe, project["fqdn"]) == word,
        f"the pushed build to answer {word}",
        timeout=BUILD_TIMEOUT,
        every=0.1,
    )


def deliveries(universe: UniverseHandle, repo_id: int) -> list[Any]:
    return list(call(universe, lambda clients: clients.git.deliveries(repo_id)))


def auth_repository(universe: UniverseHandle, repo_id: int) -> dict[str, Any]:
    return dict(call(universe, lambda clients: clients.auth.repository(str(repo_id))))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    started = DaemonProcess(tmp_path / "home").start()
    try:
        yield started
    finally:
        started.stop()


def test_a_kept_universe_takes_its_ports_again_and_a_git_push_builds_after_the_daemon_restarts(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    daemon = DaemonProcess(home).start()
    try:
        with daemon.client() as client:
            client.new_universe("kept", SHAPE, keep=True)
            universe = UniverseHandle(client, "kept")
            project = create_and_build(universe, tmp_path / "hello")
            before = ports_of(universe)
            meta_ports = (home / "universe-kept" / "universe.json").read_text()
            assert str(before["git@kept"]["http"]) in meta_ports
        daemon.stop()
        daemon = DaemonProcess(home, port=daemon.port).start()
        with daemon.client() as client:
            client.new_universe("kept")  # its stored shape, data and ports
            universe = UniverseHandle(client, "kept")
            assert ports_of(universe) == before
            push_change(universe, project, "KEPT")
            shown = client.project("kept", "hello")
            assert shown["stale_remotes"] == []
            code_repo = shown["repositories"]["code"]
            assert code_repo["clone_url"] == git(
                "remote", "get-url", "origin", cwd=tmp_path / "hello" / "code"
            )
            (delivery,) = deliveries(universe, code_repo["id"])
            assert (delivery["state"], delivery["status"], len(delivery["attempts"])) == ("delivered", 201, 1)
    finally:
        daemon.stop()


def dream(daemon: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dream", *args],
        env={**daemon.env, "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def occupy(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_ports_taken_at_reload_move_the_universe_and_every_stored_url_follows(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    with daemon.client() as client:
        client.new_universe("moved", SHAPE, keep=True)
        universe = UniverseHandle(client, "moved")
        work = tmp_path / "hello"
        project = create_and_build(universe, work)
        old = ports_of(universe)
        client.kill_universe("moved")
        with ExitStack() as held:
            # Another program took the git host's and patrick's HTTP ports meanwhile.
            held.enter_context(occupy(old["git@moved"]["http"]))
            held.enter_context(occupy(old["patrick@moved"]["http"]))
            client.new_universe("moved")
            new = ports_of(universe)
            assert new["git@moved"]["http"] != old["git@moved"]["http"]
            assert new["patrick@moved"]["http"] != old["patrick@moved"]["http"]
            assert new["tns@moved"] == old["tns@moved"]  # free ports are taken again
            git_url = f"http://127.0.0.1:{new['git@moved']['http']}"
            assert f"{old['git@moved']['http']} → {git_url}" in daemon.log()

            shown = client.project("moved", "hello")
            for role in ("config", "code"):
                repo = shown["repositories"][role]
                assert repo["clone_url"] == f"{git_url}/{repo['full_name']}.git"
                assert auth_repository(universe, repo["id"])["url"] == repo["clone_url"]
            stale = {s["path"]: s for s in shown["stale_remotes"]}
            assert sorted(stale) == [str(work / "code"), str(work / "config")]
            printed = dream(daemon, "project", "show", "hello", "--universe", "moved")
            assert printed.returncode == 0, printed.stderr
            for role in ("config", "code"):
                fix = stale[str(work / role)]["fix"]
                assert fix == (
                    f"git -C {work / role} remote set-url origin {shown['repositories'][role]['clone_url']}"
                )
                assert fix in printed.stdout
                subprocess.run(shlex.split(fix), check=True, timeout=60)
            assert client.project("moved", "hello")["stale_remotes"] == []

            push_change(universe, project, "MOVE")
            code_id = shown["repositories"]["code"]["id"]
            found = deliveries(universe, code_id)
            assert len(found) == 1, f"one push, one delivery: {found}"
            (delivery,) = found
            patrick_url = f"http://127.0.0.1:{new['patrick@moved']['http']}/github/"
            assert delivery["url"].startswith(patrick_url) and delivery["state"] == "delivered"

        # Reloaded once more with the old ports free again: the universe keeps its new ones, which the
        # stored URLs now name.
        client.kill_universe("moved")
        client.new_universe("moved")
        assert ports_of(universe) == new
        push_change(universe, project, "BACK")
