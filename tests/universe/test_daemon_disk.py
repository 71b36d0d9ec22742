"""A full disk, for real: the dream home and a project's path on a small tmpfs, filled to the last byte.
The daemon answers in the API's shape with a sentence that says the disk is full and names the dream
home, and frees its reserve so that it can still write that sentence to its log."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dream.daemon.failures import DISK_RESERVE_BYTES, DISK_RESERVE_FILE
from dream.testing.harness import DaemonProcess, wait_for
from tests.services.node_clients import call

pytestmark = pytest.mark.e2e

SMALL = {"Services": {"auth": {}, "tns": {}}, "Simples": {}}
TMPFS_SIZE = "24m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs, unmounted at the end even when the test fails."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root (run the suite as root to test a full disk)")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, name: str) -> None:
    """Write to `disk` until it has no byte left."""
    fd = os.open(disk / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)  # a partial write fills the rest; the next one fails
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


def test_a_full_disk_is_named_in_the_answer_and_in_the_log(small_disk: Path) -> None:
    home = small_disk / "home"
    daemon = DaemonProcess(home).start()
    try:
        reserve = home / DISK_RESERVE_FILE
        assert reserve.stat().st_size == DISK_RESERVE_BYTES
        with daemon.client() as client:
            client.new_universe("full", SMALL)  # a temporary universe: its nodes live outside the tmpfs
        fill(small_disk, "filler-1")

        # The home is full: a kept universe cannot write its universe.json there.
        answer = httpx.post(
            f"{daemon.url}/universe/kept",
            json={"keep": True, "config": {"Services": {}, "Simples": {}}},
            headers=daemon.auth(),
        )
        assert answer.status_code == 507, answer.text
        sentence = answer.json()["error"]
        assert answer.json()["code"] == 507
        assert sentence.startswith("no space left on device: could not write")
        assert "while handling POST /universe/kept" in sentence
        assert f"free some space on the disk that holds the dream home {home}" in sentence
        # The reserve was freed so that the log line could be written on the full disk.
        assert not reserve.exists()
        log = daemon.log()
        assert sentence in log and "(freed the disk reserve to report it)" in log

        # A project's working copies on the full disk: the answer names where it could not write.
        fill(small_disk, "filler-2")
        where = small_disk / "projects" / "p"
        answer = httpx.post(
            f"{daemon.url}/project/full", json={"name": "p", "path": str(where)}, headers=daemon.auth()
        )
        assert answer.status_code == 507, answer.text
        sentence = answer.json()["error"]
        assert sentence.startswith(f"no space left on device: could not write {where}") or (
            sentence.startswith(f"no space left on device: could not write to {small_disk}")
        )
        assert "while handling POST /project/full" in sentence
        assert f"the dream home {home} or the project's path" in sentence

        with daemon.client() as client:
            assert client.ping()
            assert client.universes()["full"]["state"] == "running"
        # Room again: the daemon takes its reserve back (it tries every few seconds, on a request).
        for name in ("filler-1", "filler-2"):
            (small_disk / name).unlink()
        with daemon.client() as client:
            wait_for(lambda: client.ping() and reserve.exists(), "the disk reserve to come back", timeout=60)
        assert reserve.stat().st_size == DISK_RESERVE_BYTES
    finally:
        daemon.stop()
        with contextlib.suppress(OSError):
            for name in ("filler-1", "filler-2"):
                (small_disk / name).unlink(missing_ok=True)


def test_a_push_to_a_full_disk_says_so_and_a_push_after_room_is_made_lands(
    small_disk: Path, tmp_path: Path
) -> None:
    """The git host keeps its repositories on the full disk (a kept universe in a dream home there): `git
    push` shows a sentence naming the disk instead of git's `unpacker error`."""
    from dream.testing.harness import UniverseHandle

    home = small_disk / "home"
    daemon = DaemonProcess(home).start()
    try:
        with daemon.client() as client:
            client.new_universe("gitfull", {"Services": {}, "Simples": {"git": {"Clients": {}}}}, keep=True)
            universe = UniverseHandle(client, "gitfull")
            repo = call(universe, lambda clients: clients.git.create_repository("dream", "full"))
        work = tmp_path / "work"
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}

        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["git", *args], cwd=work, env=env, capture_output=True, text=True, timeout=60
            )

        work.mkdir()
        for args in (
            ("init", "-q", "-b", "main"),
            ("config", "user.email", "t@example.com"),
            ("config", "user.name", "t"),
            ("remote", "add", "origin", repo["clone_url"]),
        ):
            assert git(*args).returncode == 0
        (work / "a.txt").write_text("a\n")
        assert git("add", "a.txt").returncode == 0 and git("commit", "-qm", "a").returncode == 0

        fill(small_disk, "filler-git")
        pushed = git("push", "-q", "origin", "main")
        assert pushed.returncode != 0
        assert "no space left on the device holding the git host's repositories" in pushed.stderr, (
            pushed.stderr
        )
        assert "free some space there, then push again" in pushed.stderr

        (small_disk / "filler-git").unlink()
        pushed = git("push", "-q", "origin", "main")
        assert pushed.returncode == 0, pushed.stderr
    finally:
        daemon.stop()
        with contextlib.suppress(OSError):
            (small_disk / "filler-git").unlink(missing_ok=True)
