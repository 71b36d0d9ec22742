"""A deployed Taubyte project as a test sees it: an HTTP client aimed at its domain, its logs, its FQDNs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.errors import DreamError
from dream.testing.harness import UniverseHandle


@dataclass
class DeployedProject:
    universe: UniverseHandle
    id: str
    path: Path
    fqdns: list[str]
    logs: list[str] = field(default_factory=list)
    _clients: dict[str, httpx.Client] = field(default_factory=dict)

    @property
    def fqdn(self) -> str:
        if not self.fqdns:
            raise DreamError(f"project {self.path} has no domain: add one under config/domains/")
        return self.fqdns[0]

    def client(self, fqdn: str | None = None, *, via: str = "substrate") -> httpx.Client:
        """An httpx client sending `Host: <fqdn>` to a substrate's (or the gateway's) HTTP port."""
        host = fqdn or self.fqdn
        key = f"{via}:{host}"
        if key not in self._clients:
            port = self.universe.port(via)
            self._clients[key] = httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"host": host}, timeout=30
            )
        return self._clients[key]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client().get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client().post(path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client().request(method, path, **kwargs)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def project_domains(config_dir: Path) -> list[str]:
    """FQDNs declared in a config repository (config/domains/*.yaml and those of applications)."""
    import yaml

    fqdns: list[str] = []
    for path in sorted(config_dir.glob("**/domains/*.y*ml")):
        data = yaml.safe_load(path.read_text()) or {}
        if data.get("fqdn"):
            fqdns.append(str(data["fqdn"]).lower())
    return fqdns


def deploy(universe: UniverseHandle, path: Path, *, branch: str = "") -> DeployedProject:
    """Build and publish `<path>/config` and `<path>/code`; a failed build fails the test with its message."""
    path = Path(path).resolve()
    for part in ("config", "code"):
        if not (path / part).is_dir():
            pytest.fail(
                f"{path} is not a project directory: it needs config/ and code/ folders", pytrace=False
            )
    try:
        answer = universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(path), branch])
    except DreamError as exc:
        pytest.fail(f"deploying {path} failed:\n{exc}", pytrace=False)
    result = answer["result"]
    return DeployedProject(
        universe, result["project"], path, project_domains(path / "config"), list(result["log"])
    )
