"""One universe for the console's tests: the services a push needs, a substrate and a gateway, and a
WAT project (quick to build) pushed once."""

from __future__ import annotations

from typing import Any

import pytest

from dream.testing.harness import UniverseHandle
from dream.testing.plugin import UniverseFactory

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


@pytest.fixture(scope="session")
def console_cloud(universe_factory: UniverseFactory) -> UniverseHandle:
    return universe_factory("console", config=SHAPE)


@pytest.fixture(scope="session")
def pushed(console_cloud: UniverseHandle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A ping_pong project in WAT, created and pushed: its function answers PONG at /ping."""
    path = tmp_path_factory.mktemp("console-projects") / "inspected"
    created = console_cloud.client.new_project(console_cloud.name, "inspected", str(path), lang="wat")
    result = console_cloud.client.fixture(console_cloud.name, "pushAll", [created["id"], "", ""])["result"]
    assert [job["status"] for job in result["jobs"]] == ["success", "success"], result
    return created
