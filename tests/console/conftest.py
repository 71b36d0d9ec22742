"""One universe for the console's tests: the services a push needs, a substrate and a gateway, and a
WAT project (quick to build) pushed once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from dream.testing.harness import DaemonProcess, UniverseHandle
from tests.console.helpers import run_dream, text_of, wait
from tests.pipeline.shapes import push_shape
from tests.universe.test_daemon_browser import browser  # noqa: F401  (a fixture)

SHAPE = push_shape(gateway=True)


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
    return console_cloud.pushed_project(
        "inspected", tmp_path_factory.mktemp("console-projects") / "inspected"
    )


@pytest.fixture(scope="module")
def signed_in(browser: Any, dream_daemon: DaemonProcess) -> Any:  # noqa: F811
    """The browser, signed in through the address the real `dream console` prints."""
    printed = run_dream(dream_daemon, "console")
    assert printed.returncode == 0, printed.stderr
    address = printed.stdout.strip()
    assert address.startswith(f"{dream_daemon.url}/console/login#")
    browser.get(address)
    wait(browser, lambda d: text_of(d, "#session") == "signed in", what="signed in")
    assert "#" not in browser.current_url  # the token left the address bar
    return browser
