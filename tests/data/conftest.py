"""The data tests' universe (tns, hoarder, seer, two substrates) with the `kv` project deployed, shared
by the tests of this folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.testing.harness import UniverseHandle

KV = Path(__file__).parent / "projects" / "kv"
HOST = {"host": "kv.data.com"}
SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {"Others": {"copies": 2}}},
    "Simples": {},
}


@pytest.fixture(scope="package")
def data(universe_factory: Any) -> UniverseHandle:
    universe: UniverseHandle = universe_factory("data", config=SHAPE)
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(KV), ""])
    return universe


def substrates(universe: UniverseHandle) -> list[str]:
    nodes = sorted(
        (n for n in universe.nodes() if n["name"].startswith("substrate@")), key=lambda n: n["name"]
    )
    return [f"http://127.0.0.1:{n['value']['http']}" for n in nodes]


def kv(url: str, op: str, key: str = "", value: bytes = b"", db: str = "/users") -> httpx.Response:
    return httpx.post(
        f"{url}/kv", params={"db": db, "op": op, "k": key}, content=value, headers=HOST, timeout=30
    )


APP_HOST = HOST  # the shop application's functions answer on the project's domain


def shopkv(url: str, op: str, key: str = "", value: bytes = b"", db: str = "/users") -> httpx.Response:
    """The `kv` WAT function again, inside the `shop` application (whose own /users it opens)."""
    return httpx.post(
        f"{url}/shopkv", params={"db": db, "op": op, "k": key}, content=value, headers=APP_HOST, timeout=30
    )
