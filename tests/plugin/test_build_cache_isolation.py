"""The plugin's daemons build into the test session's own cache, never into the machine's; the
toolchains and their caches stay the machine's (they take minutes to fill)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from dream.builders.paths import TOOL_CACHE_ENV, TOOLS_ENV, tool_cache_dir, tools_dir
from dream.settings import CACHE_ENV, cache_home
from dream.testing.harness import DaemonProcess

pytestmark = pytest.mark.e2e
HELLO = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "hello"


def entries(cache: Path) -> set[str]:
    """The build cache entries (their keys) under a DREAM_CACHE."""
    builds = cache / "builds"
    return {p.name for p in builds.glob("??/*") if p.is_dir()} if builds.is_dir() else set()


def test_a_daemon_gets_its_own_cache_and_shares_the_toolchains(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "home")  # not started: its environment is what matters
    assert daemon.env[CACHE_ENV] == str(tmp_path / "home" / "cache")
    assert (daemon.env[TOOLS_ENV], daemon.env[TOOL_CACHE_ENV]) == (str(tools_dir()), str(tool_cache_dir()))
    elsewhere = DaemonProcess(tmp_path / "other", cache=tmp_path / "shared")
    assert elsewhere.env[CACHE_ENV] == str(tmp_path / "shared")


def test_a_deployed_build_lands_in_the_session_cache_not_the_machines(
    dream_daemon: DaemonProcess,
    dream_cache: Path,
    deploy_project,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    assert dream_daemon.env[CACHE_ENV] == str(dream_cache) != str(cache_home())
    project = tmp_path / "hello"
    shutil.copytree(HELLO, project)
    ping = project / "code" / "functions" / "ping" / "main.wat"
    ping.write_text(ping.read_text() + f";; never built before: {uuid.uuid4()}\n")  # a new cache key
    before, machine_before = entries(dream_cache), entries(cache_home())
    deployed = deploy_project(project)
    assert (deployed.get("/ping").status_code, deployed.get("/ping").text) == (200, "PONG")
    new = entries(dream_cache) - before
    assert new, f"the deploy built nothing into the session's cache {dream_cache}"
    # Only what appeared during the deploy counts: the machine's cache may hold the same project's
    # functions from a build outside the tests (the keys are the sources').
    written = entries(cache_home()) - machine_before
    assert not new & written, "a test build was written into the machine's build cache"
    assert any((dream_cache / "wasm").glob("*.cwasm")), "compiled modules belong in the session's cache"
