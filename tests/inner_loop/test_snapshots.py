"""Snapshots: a universe with a project, saved and loaded under a new name, answers with no build; a
snapshot taken while a push runs loads into a universe whose stores and repositories are whole."""

from __future__ import annotations

import json
import os
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dream.errors import DreamError
from dream.gitrun import run as git_run
from dream.substrate.startup import STARTUP_HOSTS, hosts_of
from dream.tcc.tns_keys import http_links_key
from dream.testing.forks import ForkPool
from dream.testing.harness import DaemonProcess, UniverseHandle, git, wait_for
from dream.testing.plugin import FORK_SERVING, UniverseFactory
from tests.inner_loop.cli import dream


@dataclass
class Origin:
    universe: UniverseHandle
    root: Path
    fqdn: str


def answer(universe: UniverseHandle, fqdn: str) -> str:
    port = universe.port("substrate")
    return httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": fqdn}, timeout=30).text


@pytest.fixture(scope="module")
def origin(
    module_universe_factory: UniverseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Origin]:
    universe = module_universe_factory("origin")
    root = tmp_path_factory.mktemp("saved") / "saved"
    made = universe.client.new_project(universe.name, "saved", str(root), lang="wat")
    files = [
        str(root / "config" / "config.yaml"),
        str(root / "code" / "functions" / "ping_pong" / "main.wat"),
    ]
    assert not universe.client.working_copy_change(universe.name, "saved", files, path=str(root))["failed"]
    wait_for(lambda: answer(universe, made["fqdn"]) == "PONG", "the project to answer", timeout=30)
    yield Origin(universe, root, made["fqdn"])
    for snap in universe.client.snapshots():
        universe.client.snapshot_remove(snap["name"])


def test_a_loaded_snapshot_answers_with_no_build(origin: Origin, dream_daemon: DaemonProcess) -> None:
    client = origin.universe.client
    saved = client.snapshot_save("origin", "with-project")
    assert saved["universe"] == "origin" and saved["processes_paused"] >= 10 and Path(saved["path"]).is_file()
    with tarfile.open(saved["path"]) as tar:
        names = tar.getnames()
        stored = json.loads(tar.extractfile("universe/universe.json").read())  # type: ignore[union-attr]
    assert "key" not in stored  # the universe key stays with the universe
    assert "universe/tns-0/node.db" in names and not any(n.endswith(("node.log", ".db-wal")) for n in names)
    loaded = dream("snapshot", "load", "with-project", "--as", "copy-a", env=dream_daemon.env)
    assert loaded.returncode == 0, loaded.stderr
    assert "universe copy-a started from snapshot with-project (of origin)" in loaded.stdout
    try:
        copy = UniverseHandle(client, "copy-a")
        assert copy.id != origin.universe.id
        assert copy.port("substrate") != origin.universe.port("substrate")
        assert answer(copy, origin.fqdn) == "PONG"
        # Nothing was built: the fork's monkey never ran a job.
        monkey_log = client.logs("copy-a", "monkey")["text"]
        assert "building" not in monkey_log and "job " not in monkey_log, monkey_log
        # Both live on: a change in the origin does not reach the fork.
        assert [s["name"] for s in client.snapshots()] == ["with-project"]
    finally:
        client.kill_universe("copy-a")
    assert "copy-a" not in client.universes()


def test_a_snapshot_taken_while_a_push_runs_is_consistent(origin: Origin) -> None:
    client = origin.universe.client
    code = origin.root / "code"
    wat = code / "functions" / "ping_pong" / "main.wat"
    before = answer(origin.universe, origin.fqdn)
    wat.write_text(wat.read_text().replace(f'"{before}"', '"MIDP"'))
    git("commit", "--quiet", "-am", "answer MIDP", cwd=code)
    pushed = threading.Thread(target=git, args=("push", "--quiet", "origin", "main"), kwargs={"cwd": code})
    pushed.start()
    try:
        saved = client.snapshot_save("origin", "mid-push")
    finally:
        pushed.join(timeout=120)
    wait_for(lambda: answer(origin.universe, origin.fqdn) == "MIDP", "the push to be served", timeout=120)
    client.snapshot_load("mid-push", "copy-b")
    try:
        copy = UniverseHandle(client, "copy-b")
        # Either side of the push, never half of it: the fork serves one answer or the other...
        assert answer(copy, origin.fqdn) in (before, "MIDP")
        # ...and its git repositories are whole.
        root = Path(client.status()["copy-b"]["root"])
        repos = sorted(p for p in (root / "simple-git" / "repos").rglob("*.git") if p.is_dir())
        assert repos
        for repo in repos:
            fsck = git_run(["fsck", "--no-progress"], cwd=repo, env=None, timeout=60)
            assert fsck.status == 0, f"{repo}: {fsck.stderr}"
    finally:
        client.kill_universe("copy-b")
    assert saved["paused_seconds"] >= 0


def test_each_test_gets_its_own_fork(origin: Origin, fork_universe: Callable[..., UniverseHandle]) -> None:
    client = origin.universe.client
    client.snapshot_save("origin", "for-forks")
    first, second = fork_universe("for-forks"), fork_universe("for-forks")
    assert first.name != second.name
    assert answer(first, origin.fqdn) == answer(second, origin.fqdn) == answer(origin.universe, origin.fqdn)


def test_a_fork_of_only_the_serving_nodes_answers_and_is_gone_after_its_kill(
    origin: Origin, fork_universe: Callable[..., UniverseHandle], dream_daemon: DaemonProcess
) -> None:
    client = origin.universe.client
    client.snapshot_save("origin", "for-serving")
    fork = fork_universe("for-serving", only=FORK_SERVING)
    nodes = client.nodes(fork.name)
    assert sorted(n["name"].split("@")[0] for n in nodes) == sorted(FORK_SERVING)
    wanted = answer(origin.universe, origin.fqdn)  # what the origin serves (an earlier test pushed)
    wait_for(lambda: answer(fork, origin.fqdn) == wanted, f"the fork to answer {wanted!r}", timeout=30)
    root = dream_daemon.home / f"universe-{fork.name}"
    assert root.is_dir()
    client.kill_universe(fork.name)  # discarded: SIGTERM, then SIGKILL after DISCARD_STOP_GRACE
    for node in nodes:
        with pytest.raises(ProcessLookupError):
            os.kill(node["pid"], 0)
    assert not root.exists()
    refused = dream(
        "snapshot",
        "load",
        "for-serving",
        "--as",
        "copy-d",
        "--only",
        "substrate",
        "--only",
        "gatekeeper",
        env=dream_daemon.env,
    )
    assert refused.returncode == 1
    assert "snapshot `for-serving` has no gatekeeper: `only` names some of" in refused.stderr
    assert "copy-d" not in client.universes()


def test_bad_names_and_missing_snapshots(origin: Origin, dream_daemon: DaemonProcess) -> None:
    client = origin.universe.client
    with pytest.raises(DreamError, match="is not a valid snapshot name"):
        client.snapshot_save("origin", "Bad Name")
    with pytest.raises(DreamError, match="no snapshot `nope`"):
        client.snapshot_load("nope", "copy-c")
    with pytest.raises(DreamError, match="universe `nowhere` does not exist"):
        client.snapshot_save("nowhere", "x")
    client.snapshot_save("origin", "twice")
    with pytest.raises(DreamError, match="universe `origin` already exists"):
        client.snapshot_load("twice", "origin")
    listed = dream("snapshot", "list", env=dream_daemon.env)
    assert "twice" in listed.stdout and "origin" in listed.stdout
    assert dream("snapshot", "rm", "twice", env=dream_daemon.env).returncode == 0
    assert "twice" not in [s["name"] for s in client.snapshots()]
    gone = dream("snapshot", "rm", "twice", env=dream_daemon.env)
    assert gone.returncode == 1 and "no snapshot `twice`" in gone.stderr


def test_forks_started_ahead(origin: Origin, dream_daemon: DaemonProcess) -> None:
    client = origin.universe.client
    client.snapshot_save("origin", "ahead")
    before = set(client.universes())
    reaped: list[str] = []
    pool = ForkPool(dream_daemon, reaped.append, ahead=1)
    try:
        first = pool.take("ahead", FORK_SERVING)
        # One more is made while "the test" runs, and it is the next test's fork.
        wait_for(lambda: len(set(client.universes()) - before) == 2, "a fork to be started ahead", timeout=60)
        ahead = (set(client.universes()) - before - {first}).pop()
        second = pool.take("ahead", FORK_SERVING)
        assert second == ahead != first
        wanted = answer(origin.universe, origin.fqdn)  # what the origin serves (an earlier test pushed)
        assert answer(UniverseHandle(client, second), origin.fqdn) == wanted
        # Saved again: the fork started ahead holds the old state, so it is thrown away, not handed out.
        wait_for(lambda: len(pool.ready[("ahead", FORK_SERVING)]) == 1, "the next fork to be asked for")
        pool.ready[("ahead", FORK_SERVING)][0][1].result(timeout=60)
        stale = (set(client.universes()) - before - {first, second}).pop()
        client.snapshot_save("origin", "ahead")
        third = pool.take("ahead", FORK_SERVING)
        assert third not in (first, second, stale) and reaped == [stale]
    finally:
        pool.close()
        for name in set(client.universes()) - before:
            client.kill_universe(name)
    assert len(reaped) == 2  # the last fork made ahead, unused, is killed when the pool closes
    none_ahead = ForkPool(dream_daemon, reaped.append, ahead=0)
    try:
        only = none_ahead.take("ahead", FORK_SERVING)
        assert set(client.universes()) - before == {only}  # nothing started ahead
    finally:
        none_ahead.close()
        client.kill_universe(only)
    with pytest.raises(ValueError, match="dream_forks_ahead = -1: give 0"):
        ForkPool(dream_daemon, reaped.append, ahead=-1)


def test_a_loaded_substrate_resolves_its_functions_before_the_first_request(
    origin: Origin, fork_universe: Callable[..., UniverseHandle]
) -> None:
    origin.universe.client.snapshot_save("origin", "resolved-ahead")
    fork = fork_universe("resolved-ahead", only=FORK_SERVING)
    # No request yet: the substrate read what tns routes at its start and loaded the function.
    health = wait_for(
        lambda: (h := fork.health("substrate"))["modules"] >= 1 and h,
        "the substrate to load the snapshot's function at its start",
        timeout=30,
    )
    assert health["hosts"] >= 1 and health["served"] == 0
    assert answer(fork, origin.fqdn) == answer(origin.universe, origin.fqdn)


def test_start_up_resolve_takes_the_first_hosts_only() -> None:
    keys = [http_links_key("functions", f"h{i}.example.com") for i in range(STARTUP_HOSTS + 5)]
    hosts = hosts_of([*keys, "http/functions/not-a-links-key", *keys])
    assert len(hosts) == STARTUP_HOSTS and hosts[0] == "h0.example.com"
    assert hosts[-1] == f"h{STARTUP_HOSTS - 1}.example.com"
