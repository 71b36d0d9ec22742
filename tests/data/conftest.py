"""The data tests' universe (tns, hoarder, seer, two substrates) with the `kv` project deployed, shared
by the tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.testing.harness import UniverseHandle

KV = Path(__file__).parent / "projects" / "kv"
HOST = {"host": "kv.data.com"}
REPLICAS = 1 << 20  # the substrates' `replicas` limit here: small, so that the tests reach it
REPLICA_IDLE = 10.0  # and their `replica_idle`
SHAPE = {
    "Services": {
        "tns": {},
        "hoarder": {},
        "seer": {},
        "substrate": {"Others": {"copies": 2}, "Limits": {"replicas": "1MiB", "replica_idle": "10s"}},
    },
    "Simples": {},
}


@pytest.fixture(scope="package")
def data(universe_factory: Any) -> Iterator[UniverseHandle]:
    universe: UniverseHandle = universe_factory("kvdata", config=SHAPE)
    try:
        universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(KV), ""])
        yield universe
    finally:  # not at the end of the session: the rest of the suite need not carry it
        universe.client.kill_universe(universe.name)


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


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


class Peak:
    """The growth of a process's peak resident memory from now (the kernel's high-water mark, reset)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        self.start = _status(self.pid, "VmRSS")

    def growth(self) -> int:
        return _status(self.pid, "VmHWM") - self.start
