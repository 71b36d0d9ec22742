"""One universe for the console's tests: the services a push needs, a substrate and a gateway, and a
WAT project (quick to build) pushed once."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from dream.testing.harness import DaemonProcess, UniverseHandle
from tests.console.browser import text_of, wait
from tests.universe.test_daemon_browser import browser  # noqa: F401  (a fixture)

SHAPE = {
    "Services": {
        "auth": {},
        "patrick": {},
        "tns": {},
        "seer": {},
        "substrate": {},
        "gateway": {},
        "monkey": {},
        "hoarder": {},
    },
    "Simples": {"git": {"Clients": {}}},
}


@pytest.fixture(scope="package")
def console_cloud(dream_daemon: DaemonProcess) -> Iterator[UniverseHandle]:
    """Shared by this folder's tests only: stopped when they are done, so the session's other tests see
    only their own universes."""
    client = dream_daemon.client()
    client.new_universe("console", SHAPE)
    try:
        yield UniverseHandle(client, "console")
    finally:
        with contextlib.suppress(Exception):
            client.kill_universe("console")
        client.close()


@pytest.fixture(scope="package")
def pushed(console_cloud: UniverseHandle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A ping_pong project in WAT, created and pushed: its function answers PONG at /ping."""
    path = tmp_path_factory.mktemp("console-projects") / "inspected"
    created = console_cloud.client.new_project(console_cloud.name, "inspected", str(path), lang="wat")
    result = console_cloud.client.fixture(console_cloud.name, "pushAll", [created["id"], "", ""])["result"]
    assert [job["status"] for job in result["jobs"]] == ["success", "success"], result
    return created


@pytest.fixture(scope="module")
def signed_in(browser: Any, dream_daemon: DaemonProcess) -> Any:  # noqa: F811
    """The browser, signed in through the address the real `dream console` prints."""
    printed = subprocess.run(
        [sys.executable, "-m", "dream", "console"],
        env=dream_daemon.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    address = printed.stdout.strip()
    assert address.startswith(f"{dream_daemon.url}/console/login#")
    browser.get(address)
    wait(browser, lambda d: text_of(d, "#session") == "signed in", what="signed in")
    assert "#" not in browser.current_url  # the token left the address bar
    return browser
