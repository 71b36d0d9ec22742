"""A Python client of the daemon's REST API: what the CLI and the tests use."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from dream.api_token import read_token
from dream.errors import DaemonNotRunning, DreamError
from dream.settings import daemon_url, dream_home
from dream.spec import FixtureSpec

if TYPE_CHECKING:
    import httpx

# Fixtures may build projects: give them time, like upstream's CLI (300 s).
DEFAULT_TIMEOUT = 300.0
STREAM_CHUNK = 1 << 20  # bytes of a storage file read and sent (or received and written) at a time


class Writable(Protocol):
    """Where a streamed storage file goes: a file open for writing, stdout's buffer, ..."""

    def write(self, data: bytes, /) -> object: ...


class DreamClient:
    """The daemon at `url` (default: DREAM_PORT's). Requests carry the token of the dream home `home`
    (default: DREAM_HOME's), read from its file when first needed, or the `token` given."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        home: Path | None = None,
        token: str | None = None,
    ) -> None:
        self.url = (url or daemon_url()).rstrip("/")
        self.timeout = timeout
        self.home = home if home is not None else dream_home()
        self.token = token
        self._client: httpx.Client | None = None

    def _headers(self) -> dict[str, str]:
        # Read late: a client made before its daemon's first start finds the token once it exists.
        if self.token is None:
            self.token = read_token(self.home)
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def _http(self) -> httpx.Client:
        # httpx is imported on first use: `dream new multiverse` only needs to know nothing listens yet.
        if self._client is None:
            import httpx

            self._client = httpx.Client(base_url=self.url, timeout=self.timeout)
        return self._client

    def listening(self) -> bool:
        """Whether something accepts connections on the daemon's address (cheap: no HTTP)."""
        host, _, port = self.url.removeprefix("http://").partition(":")
        try:
            with socket.create_connection((host, int(port or 80)), timeout=0.5):
                return True
        except OSError:
            return False

    def not_running(self) -> str:
        """What a user reads when nothing answers at the daemon's address."""
        return f"dream is not running at {self.url}: start it with `dream new multiverse` (or `dream start`)"

    def __enter__(self) -> DreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _call(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: Iterator[bytes] | None = None,
    ) -> Any:
        import httpx

        try:
            response = self._http.request(
                method, path, json=json, params=params, content=content, headers=self._headers()
            )
        except httpx.ConnectError:
            raise DaemonNotRunning(self.not_running()) from None
        except httpx.TimeoutException:
            raise DreamError(f"the daemon at {self.url} did not answer {method} {path} in time") from None
        return self._answer(method, path, response)

    @staticmethod
    def _answer(method: str, path: str, response: httpx.Response) -> Any:
        """The JSON of the daemon's answer; its error (or an HTTP error status) as a DreamError."""
        try:
            data = response.json()
        except ValueError:
            raise DreamError(
                f"the daemon answered {method} {path} with HTTP {response.status_code}"
            ) from None
        if isinstance(data, dict) and data.get("error"):
            raise DreamError(str(data["error"]))
        if response.status_code >= 400:
            raise DreamError(f"the daemon answered {method} {path} with HTTP {response.status_code}")
        return data

    # -- multiverse ----------------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            return bool(self._call("GET", "/ping") == "pong")
        except DreamError:
            return False

    def status(self) -> dict[str, Any]:
        return dict(self._call("GET", "/status"))

    def universes(self) -> dict[str, Any]:
        return dict(self._call("GET", "/universes"))

    def shutdown(self) -> int:
        """Ask the daemon to stop everything; returns its pid (it exits once every universe is down)."""
        return int(self._call("DELETE", "/multiverse").get("pid", 0))

    # -- universes -----------------------------------------------------------------------------------

    def new_universe(
        self, name: str, config: dict[str, Any] | None = None, *, keep: bool = False, shape: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"keep": keep}
        if config is not None:
            body["config"] = config
        if shape:
            body["shape"] = shape
        return dict(self._call("POST", f"/universe/{name}", json=body))

    def kill_universe(self, name: str) -> None:
        self._call("DELETE", f"/universe/{name}")

    def graph(self, universe: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/les/miserables/{universe}"))

    def universe_id(self, universe: str) -> str:
        return str(self._call("GET", f"/id/{universe}")["id"])

    # -- nodes ---------------------------------------------------------------------------------------

    def new_service(self, universe: str, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(
            self._call("POST", f"/service/{universe}/{name}", json={"config": config or {}, "params": []})
        )

    def kill_service(self, universe: str, name: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/service/{universe}/{name}"))

    def new_simple(self, universe: str, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"config": config} if config is not None else {}
        return dict(self._call("POST", f"/simple/{universe}/{name}", json=body))

    def kill_simple(self, universe: str, name: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/simple/{universe}/{name}"))

    def kill_node(self, universe: str, name: str, node_id: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/node/{universe}/{name}/{node_id}"))

    def logs(self, universe: str, node: str, offset: int = 0) -> dict[str, Any]:
        return dict(self._call("GET", f"/logs/{universe}/{node}", params={"offset": offset}))

    # -- fixtures and specs --------------------------------------------------------------------------

    def fixture(self, universe: str, name: str, params: list[str] | None = None) -> dict[str, Any]:
        return dict(self._call("POST", f"/fixture/{universe}/{name}", json={"params": params or []}))

    def spec(self, what: str) -> list[str]:
        return list(self._call("GET", f"/spec/{what}"))

    def fixture_specs(self) -> list[FixtureSpec]:
        """Each fixture with its variables, in the daemon's order (what `dream inject` offers)."""
        return list(self._call("GET", "/spec/fixtures/details"))

    # -- projects ------------------------------------------------------------------------------------

    def new_project(
        self, universe: str, name: str, path: str, *, template: str = "ping_pong", lang: str = "go"
    ) -> dict[str, Any]:
        body = {"name": name, "path": path, "template": template, "lang": lang}
        return dict(self._call("POST", f"/project/{universe}", json=body))

    def new_website(self, universe: str, project: str, name: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/project/{universe}/{project}/website", json={"name": name}))

    def new_library(self, universe: str, project: str, name: str, *, lang: str = "go") -> dict[str, Any]:
        body = {"name": name, "lang": lang}
        return dict(self._call("POST", f"/project/{universe}/{project}/library", json=body))

    def projects(self, universe: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/projects/{universe}")["projects"])

    def project(self, universe: str, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/project/{universe}/{name}"))

    # -- helpers -------------------------------------------------------------------------------------

    def nodes(self, universe: str) -> list[dict[str, Any]]:
        return list(self.graph(universe)["nodes"])

    def node(self, universe: str, name: str) -> dict[str, Any]:
        """The first node whose name is `name` (as `dream status <service>` picks it)."""
        for node in self.nodes(universe):
            if node["name"].split("@", 1)[0] == name:
                return node
        raise DreamError(f"failed getting service name '{name}' in universe `{universe}`")

    def port(self, universe: str, name: str, protocol: str = "http") -> int:
        node = self.node(universe, name)
        if node.get("state") == "down":
            raise DreamError(
                f"`{name}` in universe `{universe}` is down ({node.get('reason')}): nothing serves its "
                f"ports; see `dream logs {name}`"
            )
        ports = node["value"]
        if protocol not in ports:
            raise DreamError(f"`{name}` in universe `{universe}` has no {protocol} port")
        return int(ports[protocol])

    # -- data (databases and storages of a project's functions) ---------------------------------------

    def data(self, universe: str, project: str, *, app: str | None = None) -> dict[str, Any]:
        """A project's databases and storages (as configured) and its keyspaces (as hoarder keeps them)."""
        return dict(self._call("GET", f"/data/{universe}/{project}", params=_only(app=app)))

    def data_keys(
        self, universe: str, project: str, database: str, *, prefix: str = "", app: str | None = None
    ) -> list[str]:
        params = _only(database=database, prefix=prefix, app=app)
        return list(self._call("GET", f"/data/{universe}/{project}/keys", params=params)["keys"])

    def data_get(
        self, universe: str, project: str, database: str, key: str, *, app: str | None = None
    ) -> bytes:
        params = _only(database=database, key=key, app=app)
        return _decoded(self._call("GET", f"/data/{universe}/{project}/value", params=params))

    def data_put(
        self, universe: str, project: str, database: str, key: str, value: bytes, *, app: str | None = None
    ) -> dict[str, Any]:
        payload = _only(database=database, key=key, app=app, base64=_encoded(value))
        return dict(self._call("POST", f"/data/{universe}/{project}/value", json=payload))

    def data_delete(
        self, universe: str, project: str, database: str, key: str, *, app: str | None = None
    ) -> dict[str, Any]:
        params = _only(database=database, key=key, app=app)
        return dict(self._call("DELETE", f"/data/{universe}/{project}/value", params=params))

    def data_files(
        self, universe: str, project: str, storage: str, *, app: str | None = None
    ) -> list[dict[str, Any]]:
        params = _only(storage=storage, app=app)
        return list(self._call("GET", f"/data/{universe}/{project}/files", params=params)["files"])

    def data_read(
        self,
        universe: str,
        project: str,
        storage: str,
        name: str,
        *,
        version: int = 0,
        app: str | None = None,
    ) -> dict[str, Any]:
        """A storage file's version (0: the latest): {name, version, cid, size, data (bytes)}."""
        params = _only(storage=storage, name=name, version=str(version), app=app)
        found = dict(self._call("GET", f"/data/{universe}/{project}/file", params=params))
        found["data"] = _decoded(found)
        return found

    def data_write(
        self,
        universe: str,
        project: str,
        storage: str,
        name: str,
        data: bytes,
        *,
        overwrite: bool = False,
        app: str | None = None,
    ) -> dict[str, Any]:
        """Store `data` as a storage file: {storage, name, version, cid, size}."""
        import io

        source = io.BytesIO(data)
        return self.data_write_stream(universe, project, storage, name, source, overwrite=overwrite, app=app)

    def data_write_stream(
        self,
        universe: str,
        project: str,
        storage: str,
        name: str,
        source: BinaryIO,
        *,
        overwrite: bool = False,
        app: str | None = None,
    ) -> dict[str, Any]:
        """Store what `source` (a file open for reading) holds, sent in chunks as it is read, never whole:
        {storage, name, version, cid, size}."""

        def chunks() -> Iterator[bytes]:
            while chunk := source.read(STREAM_CHUNK):
                yield chunk

        params = _only(storage=storage, name=name, app=app, overwrite="1" if overwrite else "0")
        path = f"/data/{universe}/{project}/file/bytes"
        return dict(self._call("POST", path, params=params, content=chunks()))

    def data_read_stream(
        self,
        universe: str,
        project: str,
        storage: str,
        name: str,
        into: Writable,
        *,
        version: int = 0,
        app: str | None = None,
    ) -> dict[str, Any]:
        """Write a storage file's version (0: the latest) into `into` as it arrives, never whole in memory:
        {storage, name, version, cid, size}."""
        import httpx

        params = _only(storage=storage, name=name, version=str(version), app=app)
        path = f"/data/{universe}/{project}/file/bytes"
        try:
            with self._http.stream("GET", path, params=params, headers=self._headers()) as response:
                if response.status_code != 200:
                    response.read()
                    self._answer("GET", path, response)
                size = 0
                for chunk in response.iter_bytes(STREAM_CHUNK):
                    into.write(chunk)
                    size += len(chunk)
                found = response.headers
        except httpx.ConnectError:
            raise DaemonNotRunning(self.not_running()) from None
        except httpx.TimeoutException:
            raise DreamError(f"the daemon at {self.url} did not answer GET {path} in time") from None
        return {
            "storage": found.get("x-dream-storage", storage),
            "name": name,
            "version": int(found.get("x-dream-version", version)),
            "cid": found.get("x-dream-cid", ""),
            "size": size,
        }

    # -- pub-sub -------------------------------------------------------------------------------------

    def publish(self, universe: str, channel: str, data: bytes, *, project: str = "") -> dict[str, Any]:
        """Publish `data` on `channel` (of `project`, else of every project with such a channel):
        {projects, functions}."""
        import base64

        body = {"channel": channel, "base64": base64.b64encode(data).decode(), "project": project}
        found: dict[str, Any] = self._call("POST", f"/pubsub/{universe}/publish", json=body)
        return found

    def tail(
        self,
        universe: str,
        channel: str = "",
        *,
        project: str = "",
        after: int = -1,
        wait: float = 0,
        peer: str = "",
    ) -> dict[str, Any]:
        """Messages one substrate saw after `after` (-1: from now on): {seq, messages, peer}; pass `seq`
        and `peer` back to follow on."""
        params = {"channel": channel, "project": project, "after": after, "wait": wait, "peer": peer}
        found: dict[str, Any] = self._call("GET", f"/pubsub/{universe}/tail", params=params)
        return found

    # -- the request inspector -----------------------------------------------------------------------

    def inspect(
        self, universe: str, *, since: float = 0.0, function: str = "", limit: int = 200
    ) -> dict[str, Any]:
        """The last requests the universe's substrates and gateways served, oldest first (`requests`),
        newer than `since` (epoch seconds), of `function` only when given; `errors`: nodes that did not
        answer."""
        params: dict[str, Any] = {"since": since, "limit": limit}
        if function:
            params["function"] = function
        return dict(self._call("GET", f"/inspect/{universe}", params=params))

    # -- the inner loop ------------------------------------------------------------------------------

    def working_copy_change(
        self, universe: str, project: str, changed: list[str], *, path: str = "", branch: str = ""
    ) -> dict[str, Any]:
        """Redo what the changed files of a project's working copies belong to, with no commit: `built`
        and `failed` list each resource redone (label, seconds, urls) or why it failed."""
        body = {"changed": changed, "path": path, "branch": branch}
        return dict(self._call("POST", f"/project/{universe}/{project}/working-copy", json=body))

    def chaos(self, universe: str) -> dict[str, Any]:
        """The pauses and faults in effect: `{paused: [{node, pid, remaining}], faults: [...]}`."""
        return dict(self._call("GET", f"/chaos/{universe}"))

    def chaos_kill(self, universe: str, node: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/chaos/{universe}/{node}/kill"))

    def chaos_pause(self, universe: str, node: str, seconds: float) -> dict[str, Any]:
        return dict(self._call("POST", f"/chaos/{universe}/{node}/pause", json={"seconds": seconds}))

    def chaos_resume(self, universe: str, node: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/chaos/{universe}/{node}/resume"))

    def chaos_fault(
        self,
        universe: str,
        node: str,
        *,
        seconds: float,
        port: str = "auto",
        delay: float = 0.0,
        rate: float = 0.0,
        status: int = 503,
    ) -> dict[str, Any]:
        """Latency (`delay` seconds) and/or failures (`rate` of requests answered `status`) on a node's
        http or p2p port (`all`: both; `auto`: http when it has one, else p2p) for `seconds`."""
        body = {"port": port, "delay": delay, "rate": rate, "seconds": seconds, "status": status}
        return dict(self._call("POST", f"/chaos/{universe}/{node}/fault", json=body))

    def chaos_clear(self, universe: str, node: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/chaos/{universe}/{node}"))

    def snapshot_save(self, universe: str, name: str) -> dict[str, Any]:
        """Snapshot a running universe's whole state as `name`: `{name, universe, path, bytes, seconds, ...}`."""
        return dict(self._call("POST", f"/snapshot/{name}", json={"universe": universe}))

    def snapshot_load(
        self, name: str, as_universe: str, *, keep: bool = False, only: list[str] | None = None
    ) -> dict[str, Any]:
        """Start the universe `as_universe` from snapshot `name`: `{universe, id, from, nodes, seconds}`.
        `only`: start just these services and simples of it."""
        body: dict[str, Any] = {"as": as_universe, "keep": keep}
        if only:
            body["only"] = list(only)
        return dict(self._call("POST", f"/snapshot/{name}/load", json=body))

    def snapshots(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/snapshots")["snapshots"])

    def snapshot_remove(self, name: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/snapshot/{name}"))

    # -- build jobs ----------------------------------------------------------------------------------

    def jobs(self, universe: str) -> list[dict[str, Any]]:
        """The universe's build jobs, newest first: {id, repository, commit, status, duration, error, ...}."""
        found: list[dict[str, Any]] = self._call("GET", f"/jobs/{universe}")["jobs"]
        return found

    def job_log(self, universe: str, job: str, offset: int = 0) -> dict[str, Any]:
        """A job's log from byte `offset`, also while it runs: {job, status, error, offset, text, done};
        ask again from `offset` until `done`."""
        return dict(self._call("GET", f"/jobs/{universe}/{job}/log", params={"offset": offset}))


def _only(**values: str | None) -> dict[str, str]:
    """The parameters that are set."""
    return {k: v for k, v in values.items() if v is not None and v != ""}


def _encoded(value: bytes) -> str:
    import base64

    return base64.b64encode(value).decode()


def _decoded(answer: dict[str, Any]) -> bytes:
    import base64

    return base64.b64decode(answer["base64"])
