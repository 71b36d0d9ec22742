"""A universe: one isolated local cloud made of node processes the daemon spawns and supervises."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx

from dream.daemon import zygote
from dream.daemon.ids import peer_id, universe_id
from dream.daemon.ports import free_port, require_free
from dream.errors import DreamError
from dream.node.config import NodeConfig
from dream.node.peers import NO_TLS, PeerClient, PeerInfo, PeerStore
from dream.node.runtime import process_start
from dream.node.security import UniverseAuth
from dream.shapes import ServiceShape, Shape, SimpleShape
from dream.spec import DNS_SERVICES, protocols_of, protocols_of_simple

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# A node restarted this many times within the window is left down instead of crash-looping.
RESTART_LIMIT = 5
RESTART_WINDOW = 30.0

log = logging.getLogger("dream.daemon")


@dataclass
class NodeRecord:
    config: NodeConfig
    process: BaseProcess | None = None
    stopping: bool = False
    restarts: list[float] = field(default_factory=list)
    failed: str = ""
    reported: bool = False  # the supervisor has seen this process die

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def ports_view(self, copies: int | None) -> dict[str, int]:
        view = dict(self.config.ports)
        if copies is not None:
            view["copies"] = copies
        return view

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.config.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Universe:
    def __init__(self, name: str, *, keep: bool, home: Path, daemon_url: str, on_change: Any = None) -> None:
        self.name = name.lower()
        self.keep = keep
        self.daemon_url = daemon_url
        self.state = "stopped"
        self.nodes: dict[str, NodeRecord] = {}
        self.registry = PeerStore()  # the daemon's own registry: the bootstrap of last resort
        self.on_change = on_change or (lambda: None)
        self.shape = Shape()
        if keep:
            self.root = home / f"universe-{self.name}"
            meta = self._load_meta()
            self.id = meta.get("id") or universe_id(self.name, deterministic=True)
            self.key = meta.get("key") or secrets.token_hex(32)
        else:
            self.id = universe_id(self.name, deterministic=False)
            self.key = secrets.token_hex(32)
            self.root = Path(tempfile.gettempdir()) / f"dream-universe-{self.name}-{self.id[-8:]}"
        self.root.mkdir(parents=True, exist_ok=True)
        self._save_meta()
        self._auth = UniverseAuth(bytes.fromhex(self.key), peer="daemon", universe=self.id)

    # -- persistence ---------------------------------------------------------------------------------

    @property
    def meta_path(self) -> Path:
        return self.root / "universe.json"

    def _load_meta(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.meta_path.read_text()))
        except (OSError, ValueError):
            return {}

    def _save_meta(self) -> None:
        meta = {
            "name": self.name,
            "id": self.id,
            "key": self.key,
            "keep": self.keep,
            "shape": self.shape.to_api(),
        }
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(self.meta_path)

    def stored_shape(self) -> Shape | None:
        config = self._load_meta().get("shape")
        if not config or not (config.get("Services") or config.get("Simples")):
            return None
        return Shape.from_api(config)

    @property
    def swarm_key(self) -> str:
        # libp2p's private-network key file format, as upstream reports it (base64 of the bytes).
        text = f"/key/swarm/psk/1.0.0/\n/base16/\n{self.key}"
        return base64.b64encode(text.encode()).decode()

    # -- starting ------------------------------------------------------------------------------------

    async def start(self, shape: Shape) -> None:
        if self.state not in ("stopped",):
            raise DreamError(f"universe `{self.name}` is {self.state}")
        self.state = "starting"
        self.shape = shape
        self._save_meta()
        try:
            records: list[NodeRecord] = []
            # Registries first in the bootstrap list, but every node starts at once.
            for name in sorted(shape.services):
                records += self._plan_service(name, shape.services[name])
            for name in sorted(shape.simples):
                records.append(self._plan_simple(name, shape.simples[name]))
            self._set_bootstrap(records)
            await self._launch(records)
        except BaseException:
            await self.stop(remove=False)
            raise
        self.state = "running"

    def _used_ports(self) -> set[int]:
        return {p for r in self.nodes.values() for p in r.config.ports.values()}

    def _plan_service(self, name: str, shape: ServiceShape) -> list[NodeRecord]:
        taken = {
            r.config.index
            for r in self.nodes.values()
            if r.config.kind == "service" and r.config.name == name
        }
        records = []
        index = 0
        for copy in range(shape.copies):
            while index in taken:
                index += 1
            taken.add(index)
            ports: dict[str, int] = {}
            for protocol in protocols_of(name):
                udp = protocol == "dns" and name in DNS_SERVICES
                if protocol in shape.ports:
                    port = shape.ports[protocol] + copy
                    require_free(port, f"{name} {protocol}", udp=udp)
                else:
                    port = free_port(udp=udp, avoid=self._used_ports() | set(ports.values()))
                ports[protocol] = port
            records.append(self._record("service", name, index, ports, others=shape.node_others()))
        return records

    def _plan_simple(self, name: str, shape: SimpleShape) -> NodeRecord:
        if any(r.config.kind == "simple" and r.config.name == name for r in self.nodes.values()):
            raise DreamError(f"simple Node `{name}` exists in universe `{self.name}`")
        ports: dict[str, int] = {}
        for protocol in protocols_of_simple(name):
            ports[protocol] = free_port(avoid=self._used_ports() | set(ports.values()))
        return self._record("simple", name, 0, ports, clients=list(shape.clients))

    def _record(
        self,
        kind: str,
        name: str,
        index: int,
        ports: dict[str, int],
        *,
        clients: list[str] | None = None,
        others: dict[str, int] | None = None,
    ) -> NodeRecord:
        dirname = f"{name}-{index}" if kind == "service" else f"simple-{name}"
        config = NodeConfig(
            universe=self.name,
            universe_id=self.id,
            key=self.key,
            kind=kind,  # type: ignore[arg-type]
            name=name,
            index=index,
            id=peer_id(self.id, dirname),
            root=str(self.root / dirname),
            ports=ports,
            daemon_url=self.daemon_url,
            daemon_pid=os.getpid(),
            daemon_start=process_start(os.getpid()),
            clients=clients or [],
            others=others or {},
        )
        record = NodeRecord(config)
        self.nodes[config.id] = record
        return record

    def _registry_urls(self) -> list[str]:
        everyone = list(self.nodes.values())
        seers = [
            r.config.p2p_url() for r in everyone if r.config.kind == "service" and r.config.name == "seer"
        ]
        elders = [
            r.config.p2p_url() for r in everyone if r.config.kind == "simple" and r.config.name == "elder"
        ]
        return [*seers, *elders, f"{self.daemon_url}/universe/{self.name}/registry"]

    def _set_bootstrap(self, records: list[NodeRecord]) -> None:
        urls = self._registry_urls()
        for record in records:
            record.config.bootstrap = list(urls)

    async def _launch(self, records: list[NodeRecord]) -> None:
        began = time.monotonic()
        await asyncio.to_thread(lambda: [self._spawn(r) for r in records])
        spawned = time.monotonic()
        await self.wait_ready(records)
        log.debug(
            "universe %s: %d node(s) spawned in %.0f ms, ready %.0f ms later",
            self.name,
            len(records),
            (spawned - began) * 1000,
            (time.monotonic() - spawned) * 1000,
        )

    def _spawn(self, record: NodeRecord) -> None:
        record.stopping = False
        record.reported = False
        Path(record.config.root).mkdir(parents=True, exist_ok=True)
        record.process = zygote.spawn(record.config.to_json(), f"dream:{record.config.label}")
        self.on_change()

    async def wait_ready(self, records: list[NodeRecord], timeout: float = READY_TIMEOUT) -> None:
        """Every node answers its health probe and is listed by the universe's registry (seer)."""
        deadline = time.monotonic() + timeout
        ids = {r.config.id for r in records}
        # A node announces itself to the daemon's own registry once it is serving: wait for that in
        # process, instead of polling every node over HTTP while eleven of them start on two cores.
        while not ids <= {p.id for p in self.registry.peers()}:
            for record in records:
                self._check_alive(record)
            missing = [r for r in records if r.config.id not in {p.id for p in self.registry.peers()}]
            self._check_deadline(deadline, missing, "announce itself")
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(auth=self._auth, timeout=2.0, verify=NO_TLS) as client:
            for record in records:
                while True:
                    self._check_alive(record)
                    try:
                        if (await client.get(record.config.p2p_url() + "/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    self._check_deadline(deadline, [record], "answer its health probe")
                    await asyncio.sleep(0.01)
            while True:
                for record in records:
                    self._check_alive(record)
                registered = await self._registered_ids(client)
                if ids <= registered:
                    return
                missing = [r for r in records if r.config.id not in registered]
                self._check_deadline(deadline, missing, "register with seer")
                await asyncio.sleep(0.02)

    async def _registered_ids(self, client: httpx.AsyncClient) -> set[str]:
        seers = self.registry_nodes()
        if not seers:
            return {p.id for p in self.registry.peers()}
        ids: set[str] | None = None
        for record in seers:
            try:
                response = await client.get(record.config.p2p_url() + "/peers")
            except httpx.HTTPError:
                return set()
            found = {p["id"] for p in response.json()["peers"]} if response.status_code == 200 else set()
            ids = found if ids is None else ids & found
        return ids or set()

    def registry_nodes(self) -> list[NodeRecord]:
        """The nodes readiness is judged by: seers, else elders (else the daemon's own registry)."""
        for kind, name in (("service", "seer"), ("simple", "elder")):
            found = [
                r for r in self.nodes.values() if r.config.kind == kind and r.config.name == name and r.alive
            ]
            if found:
                return found
        return []

    def _check_alive(self, record: NodeRecord) -> None:
        if record.process is not None and not record.process.is_alive():
            code = record.process.exitcode
            raise DreamError(
                f"{record.config.label} exited during start-up (exit code {code}); its log "
                f"({record.config.log_path}) ends with:\n{record.log_tail()}"
            )

    def _check_deadline(self, deadline: float, pending: list[NodeRecord], what: str) -> None:
        if time.monotonic() > deadline:
            names = ", ".join(r.config.label for r in pending)
            raise DreamError(f"{names} did not {what} within {READY_TIMEOUT:.0f}s; see `dream logs`")

    # -- changing a running universe -----------------------------------------------------------------

    async def add_service(self, name: str, shape: ServiceShape) -> list[NodeRecord]:
        records = self._plan_service(name, shape)
        self._set_bootstrap(records)
        try:
            await self._launch(records)
        except BaseException:
            await self._stop_records(records, forget=True)
            raise
        self.shape.services.setdefault(name, ServiceShape()).copies = len(self.instances(name))
        return records

    async def add_simple(self, name: str, shape: SimpleShape) -> NodeRecord:
        record = self._plan_simple(name, shape)
        self._set_bootstrap([record])
        try:
            await self._launch([record])
        except BaseException:
            await self._stop_records([record], forget=True)
            raise
        self.shape.simples[name] = shape
        return record

    def instances(self, name: str, kind: str = "service") -> list[NodeRecord]:
        found = [r for r in self.nodes.values() if r.config.kind == kind and r.config.name == name]
        return sorted(found, key=lambda r: r.config.index)

    async def kill_service(self, name: str) -> NodeRecord:
        found = self.instances(name) or self.instances(name, "simple")
        if not found:
            raise DreamError(f"no `{name}` node is running in universe `{self.name}`")
        await self._stop_records([found[0]], forget=True)
        return found[0]

    async def kill_simple(self, name: str) -> NodeRecord:
        found = self.instances(name, "simple")
        if not found:
            raise DreamError(f"simple `{name}` does not exist in universe `{self.name}`")
        await self._stop_records(found, forget=True)
        self.shape.simples.pop(name, None)
        return found[0]

    async def kill_node(self, name: str, node_id: str) -> NodeRecord:
        record = self.nodes.get(node_id)
        if record is None or record.config.name != name:
            raise DreamError(f"no node `{node_id}` named `{name}` in universe `{self.name}`")
        await self._stop_records([record], forget=True)
        return record

    async def restart(self, record: NodeRecord, reason: str) -> None:
        """Bring back a node that died on its own: same id, ports and data."""
        if record.stopping or self.state != "running" or record.config.id not in self.nodes:
            return
        now = time.monotonic()
        record.restarts = [t for t in record.restarts if now - t < RESTART_WINDOW] + [now]
        if len(record.restarts) > RESTART_LIMIT:
            record.failed = f"crashed {len(record.restarts)} times in {RESTART_WINDOW:.0f}s"
            log.error(
                "%s %s; leaving it down (see %s)", record.config.label, record.failed, record.config.log_path
            )
            return
        log.warning(
            "%s (pid %s) %s; restarting it with the same ports", record.config.label, record.pid, reason
        )
        with open(record.config.log_path, "a") as fh:
            fh.write(
                f"--- dream: node {reason}; restarted by the daemon at {time.strftime('%H:%M:%S')} ---\n"
            )
        await asyncio.to_thread(self._spawn, record)
        try:
            await self.wait_ready([record], timeout=10)
        except DreamError as exc:
            log.error("restart of %s failed: %s", record.config.label, exc)
            return
        log.info("%s is back (pid %s)", record.config.label, record.pid)

    async def _stop_records(self, records: list[NodeRecord], *, forget: bool) -> None:
        for record in records:
            record.stopping = True
            if record.alive and record.pid:
                _signal(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for record in records:
            while record.alive and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if record.alive and record.pid:
                log.warning("%s did not stop within %.0fs; killing it", record.config.label, STOP_TIMEOUT)
                _signal(record.pid, signal.SIGKILL)
                while record.alive:
                    await asyncio.sleep(0.01)
            if forget:
                self.nodes.pop(record.config.id, None)
                self.registry.remove(record.config.id)
        self.on_change()

    async def stop(self, *, remove: bool = True) -> None:
        self.state = "stopping"
        await self._stop_records(list(self.nodes.values()), forget=True)
        self.state = "stopped"
        if remove and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def peer_client(self) -> PeerClient:
        """A signed client of this universe's nodes, for the daemon's fixtures (close it after use)."""
        return PeerClient(
            secret=bytes.fromhex(self.key),
            peer="daemon",
            universe_id=self.id,
            universe=self.name,
            registries=self._registry_urls(),
            timeout=120.0,
        )

    # -- views ---------------------------------------------------------------------------------------

    def copies(self, name: str, kind: str) -> int | None:
        return len(self.instances(name)) if kind == "service" else None

    def status(self) -> dict[str, Any]:
        services: dict[str, int] = {}
        for record in self.nodes.values():
            if record.config.kind == "service":
                services[record.config.name] = services.get(record.config.name, 0) + 1
        return {
            "id": self.id,
            "state": self.state,
            "keep": self.keep,
            "root": str(self.root),
            "swarm-key": self.swarm_key,
            "node-count": len(self.nodes),
            "simples": sorted({r.config.name for r in self.nodes.values() if r.config.kind == "simple"}),
            "nodes": {i: [f"/ip4/127.0.0.1/tcp/{r.config.ports['p2p']}"] for i, r in self.nodes.items()},
            "services": [{"name": n, "copies": c} for n, c in sorted(services.items())],
        }

    def graph(self) -> dict[str, Any]:
        """Upstream's ECharts graph (`/les/miserables`): nodes, links to the registries, categories."""
        records = sorted(self.nodes.values(), key=lambda r: (r.config.name, r.config.index))
        names = sorted({r.config.name for r in records})
        nodes = [
            {
                "id": r.config.id,
                "name": f"{r.config.name}@{self.name}",
                "category": names.index(r.config.name),
                "value": r.ports_view(self.copies(r.config.name, r.config.kind)),
                "kind": r.config.kind,
                "pid": r.pid,
                "alive": r.alive,
            }
            for r in records
        ]
        hubs = {r.config.id for r in self.registry_nodes()}
        links = [
            {"source": r.config.id, "target": h} for r in records for h in sorted(hubs) if h != r.config.id
        ]
        return {"nodes": nodes, "links": links, "categories": [{"name": n} for n in names]}

    def peers(self) -> list[PeerInfo]:
        return self.registry.peers()


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
