"""One universe for the https tests: the sample project (`hello`) deployed on its registered domain and on
a generated domain of the universe."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dream.testing.harness import UniverseHandle
from dream.testing.plugin import UniverseFactory
from tests.services.node_clients import call

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "fixtures" / "projects" / "hello"
PROJECT = "QmHe11oDreamSamp1eProjectForServingTests0001"
REGISTERED = "hello.computers.com"
SHAPE = {
    "Services": {"auth": {}, "tns": {}, "hoarder": {}, "seer": {}, "gateway": {}, "substrate": {}},
    "Simples": {},
}


@dataclass
class Web:
    universe: UniverseHandle
    generated: str  # a generated domain of the universe the project serves
    registered: str  # the project's own domain

    def port(self, node: str, protocol: str = "http") -> int:
        return self.universe.port(node, protocol)


@pytest.fixture(scope="package")
def web(universe_factory: UniverseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    # Package-scoped, and a worker may leave this package and come back (pytest-xdist's loadfile hands
    # it files in any order): the universe goes with the fixture, so coming back makes it anew.
    universe = universe_factory("https", config=SHAPE)
    try:
        yield _deployed(universe, tmp_path_factory)
    finally:
        if universe.name in universe.client.universes():
            universe.client.kill_universe(universe.name)


def _deployed(universe: UniverseHandle, tmp_path_factory: pytest.TempPathFactory) -> Web:
    # A generated domain carries the project id's last 8 characters (what the substrate checks).
    generated = f"{PROJECT[-8:].lower()}0.g.{universe.name}.localtau"
    project = tmp_path_factory.mktemp("hello") / "hello"
    shutil.copytree(HELLO, project)
    (project / "config" / "domains" / "generated.yaml").write_text(
        f"id: QmHe11oDomainGenerated000000000000000000000001\nfqdn: {generated}\n"
    )
    for config in (
        project / "config" / "functions" / "ping.yaml",
        project / "config" / "websites" / "site.yaml",
    ):
        config.write_text(config.read_text().replace("  - hello\n", "  - hello\n  - generated\n"))
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(project), ""])
    # Auth issues the published domains' certificates ahead of time, once it has read the publish from
    # tns. Tests start after that: a late reading would issue a certificate a test has just deleted.
    published = call(universe, lambda c: c.tns.stats())["seq"]
    universe.wait_for(
        lambda: universe.health("auth")["certificates_followed_tns_seq"] >= published,
        timeout=30,
        what="auth to read the publish from tns and issue its domains' certificates",
    )
    return Web(universe, generated, REGISTERED)


def localhost_get(url: str, **kwargs: object) -> httpx.Response:
    """GET a `*.localhost` URL as a browser does: to 127.0.0.1, with the name as Host (and as SNI over
    https). Browsers and curl map `*.localhost` to loopback themselves; the C library's resolver here
    may not, so httpx is told to."""
    parsed = httpx.URL(url)
    assert parsed.host.endswith(".localhost"), url
    target = parsed.copy_with(host="127.0.0.1")
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    client_options = {key: kwargs.pop(key) for key in ("verify",) if key in kwargs}
    with httpx.Client(timeout=30, **client_options) as client:  # type: ignore[arg-type]
        return client.get(target, headers={"host": parsed.netloc.decode()}, extensions=extensions, **kwargs)  # type: ignore[arg-type]
