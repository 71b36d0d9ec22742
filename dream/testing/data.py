"""A project's data as a test sees it: seed a database or storage before calling functions, read what
they kept after. Through the daemon's data API (`dream data`), so the writes go through hoarder and
every substrate sees them at once.

    def test_counter(deploy_project, project_data):
        project = deploy_project("my-project")
        data = project_data(project)
        data.seed("/counters", {"visits": b"41"})
        assert project.get("/visit").text == "42"
        assert data.get("/counters", "visits") == b"42"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dream.errors import DreamError
from dream.testing.harness import UniverseHandle


@dataclass
class ProjectData:
    universe: UniverseHandle
    project: str  # its name or id
    app: str | None = None  # names resolve in this application first (its name or id)

    @property
    def _api(self) -> Any:
        return self.universe.client

    def overview(self) -> dict[str, Any]:
        """The project's databases and storages, and the keyspaces hoarder keeps for them."""
        return dict(self._api.data(self.universe.name, self.project, app=self.app))

    def put(self, database: str, key: str, value: bytes | str) -> None:
        data = value.encode() if isinstance(value, str) else value
        self._api.data_put(self.universe.name, self.project, database, key, data, app=self.app)

    def seed(self, database: str, values: dict[str, bytes | str]) -> None:
        """Put every key of `values` (the test's starting data)."""
        for key, value in values.items():
            self.put(database, key, value)

    def get(self, database: str, key: str) -> bytes | None:
        """The value at `key`, None when there is none."""
        try:
            return bytes(self._api.data_get(self.universe.name, self.project, database, key, app=self.app))
        except DreamError as exc:
            if f"has no key `{key}`" in str(exc):
                return None
            raise

    def keys(self, database: str, prefix: str = "") -> list[str]:
        return list(
            self._api.data_keys(self.universe.name, self.project, database, prefix=prefix, app=self.app)
        )

    def delete(self, database: str, key: str) -> None:
        self._api.data_delete(self.universe.name, self.project, database, key, app=self.app)

    def write_file(self, storage: str, name: str, data: bytes, *, overwrite: bool = False) -> int:
        """Store a file; its version."""
        done = self._api.data_write(
            self.universe.name, self.project, storage, name, data, overwrite=overwrite, app=self.app
        )
        return int(done["version"])

    def read_file(self, storage: str, name: str, version: int = 0) -> bytes:
        found = self._api.data_read(
            self.universe.name, self.project, storage, name, version=version, app=self.app
        )
        return bytes(found["data"])

    def files(self, storage: str) -> list[dict[str, Any]]:
        return list(self._api.data_files(self.universe.name, self.project, storage, app=self.app))
