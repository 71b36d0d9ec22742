"""A universe: one isolated local cloud made of node processes the daemon spawns and supervises."""

from __future__ import annotations

import asyncio
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

from dream.clients.base import ServiceError
from dream.clients.seer import registered
from dream.daemon import zygote
from dream.daemon.ids import peer_id, universe_id
from dream.daemon.moved import follow_ports
from dream.daemon.ports import PORT_RETRIES, free_port, port_is_free, require_free, take_ports_for_test
from dream.errors import DreamError
from dream.node import exits
from dream.node.config import NodeConfig
from dream.node.peers import NO_TLS, PeerClient, PeerInfo, PeerStore
from dream.node.security import UniverseAuth
from dream.process import forkserver
from dream.process.identity import process_start
from dream.settings import DEFAULT_UNIVERSE, gateway_ports
from dream.shapes import ServiceShape, Shape, SimpleShape
from dream.spec import DNS_SERVICES, protocols_of, protocols_of_simple

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# A universe loaded from a snapshot and not kept is thrown away when killed (a test's fork): its nodes get
# this long after SIGTERM, then SIGKILL. Nothing of a discarded universe needs a clean stop, and a test
# pays its fork's kill.
DISCARD_STOP_GRACE = 0.3
# A node that dies more than RESTART_LIMIT times within RESTART_WINDOW seconds is left down instead of
# crash-looping; the environment of the daemon can change both.
RESTART_LIMIT = 5
RESTART_WINDOW = 30.0
RESTART_LIMIT_ENV = "DREAM_RESTART_LIMIT"
RESTART_WINDOW_ENV = "DREAM_RESTART_WINDOW"

# What a node is doing, as every status view shows it.
STARTING = "starting"  # spawned, not yet ready (a new universe, an injected service)
UP = "up"  # ready; a death now is restarted
RESTARTING = "restarting"  # died on its own; being brought back (see `reason`)
DOWN = "down"  # left down (see `reason`); its ports are not served
STOPPING = "stopping"  # being stopped on purpose

log = logging.getLogger("dream.daemon")


@dataclass
class NodeRecord:
    """One node: its config, its current process and its state.

    Only the event loop changes these fields, except `exited`, which only the supervisor thread writes.
    """

    config: NodeConfig
    process: BaseProcess | None = None
    state: str = STARTING
    reason: str = ""  # why it is restarting or down
    restarts: int = 0  # how many times the daemon brought it back
    last_exit: str = ""  # how its last process ended on its own
    crashes: list[float] = field(default_factory=list)  # recent deaths, for the crash-loop limit
    stopping: bool = False
    spawning: asyncio.Task[None] | None = None  # a spawn in flight: stopping waits for it, then kills
    reviving: asyncio.Task[None] | None = None  # the restart in progress
    exited: BaseProcess | None = None  # the last process the supervisor reported dead
    pinned: frozenset[str] = frozenset()  # protocols whose port the user chose: never chosen again

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and forkserver.exit_code(self.process) is None

    @property
    def serving(self) -> bool:
        """Whether its ports are (or will be again) its own: not left down, not stopped."""
        return self.state in (STARTING, UP, RESTARTING)

    def ports_view(self, copies: int | None) -> dict[str, int]:
        view = dict(self.config.ports) if self.serving else {}
        if copies is not None:
            view["copies"] = copies
        return view

    def state_view(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "pid": self.pid if self.alive else None,
            "alive": self.alive,
        }

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.config.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def note(self, line: str) -> None:
        """A line in the node's own log, so `dream logs` tells what the daemon did to it."""
        with contextlib.suppress(OSError), open(self.config.log_path, "a") as fh:
            fh.write(f"--- dream: {line} at {time.strftime('%H:%M:%S')} ---\n")


def restart_policy() -> tuple[int, float]:
    """(limit, window) of the crash-loop rule, from the daemon's environment or the defaults."""
    values: list[float] = []
    for name, default, unit in (
        (RESTART_LIMIT_ENV, RESTART_LIMIT, "restarts"),
        (RESTART_WINDOW_ENV, RESTART_WINDOW, "seconds"),
    ):
        text = os.environ.get(name, "")
        try:
            value = float(text) if text else float(default)
        except ValueError:
            value = -1.0
        if not 0 <= value < float("inf"):
            raise DreamError(
                f"{name}={text!r} is not a number of {unit} (default {default:g}); "
                f"fix or unset it and start the daemon again"
            )
        values.append(value)
    return int(values[0]), values[1]


def port_taken(process: BaseProcess) -> bool:
    """Whether a node's process ended because a port chosen for it was bound by another program first."""
    return forkserver.exit_code(process) == exits.PORT_TAKEN


def exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        return f"was killed by signal {-code}"
    if code == exits.PORT_TAKEN:
        return f"exited with code {code}: another program has one of its ports (its log names it)"
    return f"exited with code {code}"


# Forked first: the node slowest to be ready (the substrate loads the wasm runtime) and the registry every
# other node announces itself to. On two cores the last node ready sets the time to SUCCESS.
SPAWN_FIRST = ("substrate", "seer")


def spawn_priority(record: NodeRecord) -> int:
    name = record.config.name
    return SPAWN_FIRST.index(name) if name in SPAWN_FIRST else len(SPAWN_FIRST)


class Universe:
    def __init__(self, name: str, *, keep: bool, home: Path, daemon_url: str, on_change: Any = None) -> None:
        self.name = name.lower()
        self.restart_limit, self.restart_window = restart_policy()
        self.keep = keep
        self.discard_fast = False  # a fork from a snapshot, not kept: stopped in DISCARD_STOP_GRACE
        self.followed_ports_in = 0.0
        self.home = home
        self._issuer: Any = None  # the universe's certificate issuer (dream.tls), made on first auth start
        self.daemon_url = daemon_url
        self.state = "stopped"
        self.nodes: dict[str, NodeRecord] = {}
        self.registry = PeerStore()  # the daemon's own registry: the bootstrap of last resort
        self.on_change = on_change or (lambda: None)
        self.shape = Shape()
        # Ports by node directory (`patrick-0`, `simple-git`): those of the last run of a kept universe,
        # taken again when free, since URLs stored in the universe (webhook targets, clone URLs) name them.
        self.ports: dict[str, dict[str, int]] = {}
        # What the user should know about how it started (a fixed port that was taken), for `status`.
        self.notices: list[str] = []
        stored_shape: Any = None
        if keep:
            self.root = home / f"universe-{self.name}"
            meta = self._load_meta()
            self.id = meta.get("id") or universe_id(self.name, deterministic=True)
            self.key = meta.get("key") or secrets.token_hex(32)
            self.ports = _ports_of(meta.get("ports"))
            stored_shape = meta.get("shape")
        else:
            self.id = universe_id(self.name, deterministic=False)
            self.key = secrets.token_hex(32)
            self.root = Path(tempfile.gettempdir()) / f"dream-universe-{self.name}-{self.id[-8:]}"
        self.root.mkdir(parents=True, exist_ok=True)
        # Until it starts with a shape, a kept universe keeps the stored one (`stored_shape` reads it).
        self._stored_shape = stored_shape if isinstance(stored_shape, dict) else None
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
            "shape": self.shape.to_api()
            if self.shape.services or self.shape.simples or self._stored_shape is None
            else self._stored_shape,
            "ports": self.ports,
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
        started = time.monotonic()
        await self._follow_ports()
        self.followed_ports_in = time.monotonic() - started  # a snapshot load reports it

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
                if protocol in shape.ports:
                    port = shape.ports[protocol] + copy
                    require_free(port, f"{name} {protocol}", udp=protocol == "dns" and name in DNS_SERVICES)
                else:
                    port = self._choose_node_port("service", name, index, protocol, planned=ports)
                ports[protocol] = port
            record = self._record("service", name, index, ports, others=shape.node_others())
            record.pinned = frozenset(shape.ports) & frozenset(ports)
            records.append(record)
        return records

    def _plan_simple(self, name: str, shape: SimpleShape) -> NodeRecord:
        if any(r.config.kind == "simple" and r.config.name == name for r in self.nodes.values()):
            raise DreamError(f"simple Node `{name}` exists in universe `{self.name}`")
        ports: dict[str, int] = {}
        for protocol in protocols_of_simple(name):
            ports[protocol] = self._choose_node_port("simple", name, 0, protocol, planned=ports)
        return self._record("simple", name, 0, ports, clients=list(shape.clients))

    def _fixed_port(self, service: str, index: int, protocol: str) -> int | None:
        """dream's fixed port for this node, if it has one: the default universe's first gateway."""
        if self.name != DEFAULT_UNIVERSE or service != "gateway" or index != 0:
            return None
        return gateway_ports().get(protocol)

    def _choose_node_port(
        self, kind: str, name: str, index: int, protocol: str, *, planned: dict[str, int]
    ) -> int:
        """`_choose_port` for a node's `protocol`: a DNS service's dns port must be free for UDP too, and
        the default universe's first gateway prefers its fixed ports."""
        service = kind == "service"
        return self._choose_port(
            f"{name}-{index}" if service else f"simple-{name}",
            protocol,
            udp=service and protocol == "dns" and name in DNS_SERVICES,
            planned=planned,
            preferred=self._fixed_port(name, index, protocol) if service else None,
        )

    def _choose_port(
        self, dirname: str, protocol: str, *, udp: bool, planned: dict[str, int], preferred: int | None = None
    ) -> int:
        """The node's port of the last run when it is free, else its fixed port (`preferred`) when free,
        else one from the kernel (never one another node of this universe had: it may get it back)."""
        taken = self._used_ports() | set(planned.values())
        stored = self.ports.get(dirname, {}).get(protocol)
        if stored and stored not in taken and port_is_free(stored, udp=udp):
            return stored
        reserved = {p for ports in self.ports.values() for p in ports.values()}
        if preferred and not stored:
            if preferred not in taken | reserved and port_is_free(preferred, udp=udp):
                return preferred
            port = free_port(udp=udp, avoid=taken | reserved)
            self.notices.append(
                f"{dirname}'s {protocol} port {preferred} is taken; it listens on {port} instead "
                f"(free port {preferred}, or choose one with --bind {dirname.split('-')[0]}@PORT/{protocol})"
            )
            log.warning("universe %s: %s", self.name, self.notices[-1])
            return port
        port = free_port(udp=udp, avoid=taken | reserved)
        if stored:
            log.warning(
                "universe %s: %s's %s port %s is taken; using %s (stored URLs will follow)",
                self.name,
                dirname,
                protocol,
                stored,
                port,
            )
        return port

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
            kind=kind,  # type: ignore[arg-type]  # 'service' or 'simple', by the caller's branches
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
        auths = [r for r in records if r.config.kind == "service" and r.config.name == "auth"]
        if auths:
            await asyncio.to_thread(self._give_issuer, auths)
        for attempt in range(PORT_RETRIES + 1):
            held = (
                take_ports_for_test([(r.config.name, r.config.ports) for r in records])
                if attempt == 0
                else []
            )
            try:
                await self._spawn(records)
                spawned = time.monotonic()
                await self.wait_ready(records)
                break
            except DreamError:
                taken = [r for r in records if r.process is not None and port_taken(r.process)]
                if attempt == PORT_RETRIES or not taken or any(r.pinned for r in taken):
                    raise
            finally:
                for sock in held:
                    sock.close()
            await self._start_again_on_new_ports(records, taken)
        for record in records:
            self._mark_up(record)
        log.debug(
            "universe %s: %d node(s) spawned in %.0f ms, ready %.0f ms later",
            self.name,
            len(records),
            (spawned - began) * 1000,
            (time.monotonic() - spawned) * 1000,
        )

    async def _start_again_on_new_ports(self, records: list[NodeRecord], taken: list[NodeRecord]) -> None:
        """Stop what started of `records` and choose new ports for the nodes in `taken`: the whole batch
        starts again, so every node's bootstrap names the registries' ports as they are now."""
        for record in taken:
            log.warning(
                "universe %s: %s could not listen on a port chosen for it (another program bound it "
                "first); starting the nodes again with new ports for it",
                self.name,
                record.config.label,
            )
        await self._stop_records(records, forget=False, grace=DISCARD_STOP_GRACE)
        for record in taken:
            config = record.config
            before = dict(config.ports)
            for protocol in before:
                # Chosen as at planning, never one of the ports it had (`planned`): one of them is taken.
                config.ports[protocol] = self._choose_node_port(
                    config.kind, config.name, config.index, protocol, planned=before
                )
            record.note(
                f"one of its ports {before} was taken by another program at start-up; it starts again on "
                f"{record.config.ports}"
            )
        for record in records:
            self.registry.remove(record.config.id)  # the stopped process's announcement
            record.stopping, record.state, record.process = False, STARTING, None
        self._set_bootstrap(records)

    def _give_issuer(self, auths: list[NodeRecord]) -> None:
        """Write the universe's certificate issuer into each auth node's folder (key 0600). Auth signs
        domains' certificates with it; the home's root key, which browsers are told to trust, never leaves
        the daemon."""
        from dream.tls.authority import home_root
        from dream.tls.paths import ISSUER_DIR

        if self._issuer is None:
            self._issuer = home_root(self.home).issuer_for(self.name)
        for record in auths:
            self._issuer.save_issuer(record.config.root_path / ISSUER_DIR)

    async def _spawn(self, records: list[NodeRecord]) -> None:
        """A new process for each record, forked in a thread (the zygote round trip blocks).

        The spawn is a task kept on the records until it is done: a stop that comes meanwhile waits for
        it and then stops what it spawned, so no process ever escapes the records. The thread sets
        `record.process` itself, so a spawn that fails half-way still leaves the processes it made
        tracked.
        """
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._spawn_now, records))
        for record in records:
            record.spawning = task

        def done(_: asyncio.Task[None]) -> None:
            for record in records:
                if record.spawning is task:
                    record.spawning = None

        task.add_done_callback(done)
        try:
            await asyncio.shield(task)
        finally:
            self.on_change()

    def _spawn_now(self, records: list[NodeRecord]) -> None:
        for record in sorted(records, key=spawn_priority):
            Path(record.config.root).mkdir(parents=True, exist_ok=True)
            record.process = zygote.spawn(record.config.to_json(), f"dream:{record.config.label}")

    def _mark_up(self, record: NodeRecord) -> None:
        record.state, record.reason = UP, ""
        self.on_change()
        process = record.process
        code = forkserver.exit_code(process) if process is not None else None
        if process is not None and code is not None:
            # Died between its last probe and now: the supervisor's report came while it was not up
            # yet and was left to this check.
            self.node_exited(record, process, code)

    async def wait_ready(self, records: list[NodeRecord], timeout: float = READY_TIMEOUT) -> None:
        """Every node's current process announced itself, answers its health probe, and the node is
        listed by the universe's registry (seer)."""
        deadline = time.monotonic() + timeout
        ids = {r.config.id for r in records}

        def announced() -> set[str]:
            # By pid: a restarted node's previous process may still be listed.
            pids = {p.id: p.pid for p in self.registry.peers()}
            return {r.config.id for r in records if pids.get(r.config.id) == r.pid}

        # A node announces itself to the daemon's own registry once it is serving: wait for that in
        # process, instead of polling every node over HTTP while eleven of them start on two cores.
        while not ids <= (done := announced()):
            for record in records:
                self._check_alive(record)
            missing = [r for r in records if r.config.id not in done]
            self._check_deadline(deadline, timeout, missing, "announce itself")
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(auth=self._auth, timeout=2.0, verify=NO_TLS) as client:

            async def healthy(record: NodeRecord) -> None:
                while True:
                    self._check_alive(record)
                    try:
                        response = await client.get(record.config.p2p_url() + "/health")
                        if response.status_code == 200 and response.json().get("pid") == record.pid:
                            return
                    except (httpx.HTTPError, ValueError):
                        pass
                    self._check_deadline(deadline, timeout, [record], "answer its health probe")
                    await asyncio.sleep(0.01)

            # All at once: one node's failure cancels the other probes and is what the caller sees.
            try:
                async with asyncio.TaskGroup() as probes:
                    for record in records:
                        probes.create_task(healthy(record))
            except ExceptionGroup as group:
                raise group.exceptions[0] from None
            while True:
                for record in records:
                    self._check_alive(record)
                registered = await self._registered_ids(client)
                if ids <= registered:
                    return
                missing = [r for r in records if r.config.id not in registered]
                self._check_deadline(deadline, timeout, missing, "register with seer")
                await asyncio.sleep(0.02)

    async def _registered_ids(self, client: httpx.AsyncClient) -> set[str]:
        seers = self.registry_nodes()
        if not seers:
            return {p.id for p in self.registry.peers()}
        ids: set[str] | None = None
        for record in seers:
            try:
                found = await registered(client, record.config.p2p_url())
            except ServiceError:
                return set()
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

    def _check_deadline(self, deadline: float, timeout: float, pending: list[NodeRecord], what: str) -> None:
        if time.monotonic() > deadline:
            names = ", ".join(r.config.label for r in pending)
            raise DreamError(f"{names} did not {what} within {timeout:.0f}s; see `dream logs`")

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
        await self._follow_ports()
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
        await self._follow_ports()
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

    # -- supervision ---------------------------------------------------------------------------------

    def node_exited(self, record: NodeRecord, process: BaseProcess, code: int | None) -> None:
        """The supervisor saw `process` die (runs on the event loop). A node that was up is restarted,
        once for this death."""
        if record.process is not process or record.stopping or self.nodes.get(record.config.id) is not record:
            return  # a process already replaced, or a node being stopped on purpose
        if record.state != UP:
            return  # starting: its start-up reports it; restarting: the restart sees it itself
        reason = record.last_exit = exit_reason(code)
        record.state, record.reason = RESTARTING, reason
        record.reviving = asyncio.get_running_loop().create_task(
            self._revive(record, reason), name=f"restart {record.config.label}"
        )
        self.on_change()

    async def _revive(self, record: NodeRecord, reason: str) -> None:
        """Bring back a node that died on its own (same id, ports and data), trying again while its new
        process dies during start-up, until the crash-loop limit."""
        try:
            while not record.stopping:
                now = time.monotonic()
                record.crashes = [t for t in record.crashes if now - t < self.restart_window] + [now]
                if len(record.crashes) > self.restart_limit:
                    self._leave_down(
                        record,
                        f"crashed {len(record.crashes)} times in {self.restart_window:g}s (last: {reason})",
                    )
                    return
                log.warning(
                    "%s (pid %s) %s; restarting it with the same ports",
                    record.config.label,
                    record.pid,
                    reason,
                )
                record.note(f"node {reason}; restarted by the daemon")
                try:
                    await self._spawn([record])
                except Exception as exc:  # the zygote is gone, the disk is full: nothing to retry
                    log.exception("could not spawn %s again", record.config.label)
                    self._leave_down(record, f"could not be started again ({exc}; last: {reason})")
                    return
                if record.stopping:
                    return
                record.restarts += 1
                died = await self._until_ready(record)
                if record.stopping:
                    return
                if died:
                    reason = record.last_exit = record.reason = died
                    continue
                log.info("%s is back (pid %s, restart %d)", record.config.label, record.pid, record.restarts)
                self._mark_up(record)
                return
        finally:
            if record.reviving is asyncio.current_task():
                record.reviving = None

    async def _until_ready(self, record: NodeRecord) -> str:
        """Wait for a restarted node to be ready; '' once it is, else how its new process died. One that
        is slow is waited for, never killed for it (that would be a second restart for one death)."""
        slow = False
        while True:
            try:
                await self.wait_ready([record])
                return ""
            except DreamError as exc:
                process = record.process
                code = forkserver.exit_code(process) if process is not None else None
                if record.stopping or process is None:
                    return ""
                if code is not None:
                    return f"{exit_reason(code)} during its restart"
                if not slow:
                    slow = True
                    record.reason = f"{record.reason}; its new process is slow to start"
                    log.warning("%s: %s; still waiting for it", record.config.label, exc)

    def _leave_down(self, record: NodeRecord, reason: str) -> None:
        record.state, record.reason = DOWN, reason
        self.registry.remove(record.config.id)
        log.error("%s %s; leaving it down (see %s)", record.config.label, reason, record.config.log_path)
        record.note(f"node {reason}; left down by the daemon")
        self.on_change()

    async def _stop_records(
        self, records: list[NodeRecord], *, forget: bool, grace: float = STOP_TIMEOUT
    ) -> None:
        for record in records:
            record.stopping = True
            record.state = STOPPING
        for record in records:
            if record.spawning is not None:
                # A spawn in flight: let it finish, then stop what it made (never leave it running).
                with contextlib.suppress(Exception):
                    await asyncio.shield(record.spawning)
            if record.alive and record.pid:
                _signal(record.pid, signal.SIGTERM)
                _signal(record.pid, signal.SIGCONT)  # a node `dream chaos pause` stopped must run to exit
        deadline = time.monotonic() + grace
        for record in records:
            while record.alive and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if record.alive and record.pid:
                if grace >= STOP_TIMEOUT:
                    log.warning("%s did not stop within %.0fs; killing it", record.config.label, grace)
                _signal(record.pid, signal.SIGKILL)
                while record.alive:
                    await asyncio.sleep(0.01)
            if forget:
                self.nodes.pop(record.config.id, None)
                self.registry.remove(record.config.id)
        # Restarts in flight end as soon as they see `stopping`.
        reviving = [r.reviving for r in records if r.reviving is not None]
        if reviving:
            await asyncio.wait(reviving, timeout=STOP_TIMEOUT)
        self.on_change()

    async def stop(self, *, remove: bool = True) -> None:
        self.state = "stopping"
        thrown_away = remove and not self.keep and self.discard_fast
        grace = DISCARD_STOP_GRACE if thrown_away else STOP_TIMEOUT
        await self._stop_records(list(self.nodes.values()), forget=True, grace=grace)
        self.state = "stopped"
        if remove and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- kept universes ------------------------------------------------------------------------------

    async def _follow_ports(self) -> None:
        """Nodes that could not take their stored ports back: every URL stored with an old port follows
        (webhook targets in the git host, clone URLs in auth), then the new ports are the stored ones.
        Until that succeeds the old ports stay stored, so the next start tries again."""
        moves: dict[str, str] = {}
        for record in self.nodes.values():
            for protocol, old in self.ports.get(record.config.dirname, {}).items():
                new = record.config.ports.get(protocol)
                if new and new != old:
                    moves[base_url(old)] = base_url(new)
        if moves:
            names = {r.config.name for r in self.nodes.values() if r.serving}
            peers = self.peer_client()
            try:
                changed = await follow_ports(peers, moves, git="git" in names, auth="auth" in names)
            except (DreamError, httpx.HTTPError) as exc:
                log.error(
                    "universe %s: could not update the URLs stored with its old ports (%s): %s; they are "
                    "updated at its next start",
                    self.name,
                    ", ".join(f"{old} → {new}" for old, new in moves.items()),
                    exc,
                )
                return
            finally:
                await peers.close()
            log.warning(
                "universe %s came back on other ports (%s): %s; working copies' remotes need "
                "`git remote set-url` (`dream project show` prints it)",
                self.name,
                ", ".join(f"{old} → {new}" for old, new in moves.items()),
                ", ".join(changed) or "no stored URL named them",
            )
        self.ports.update({r.config.dirname: dict(r.config.ports) for r in self.nodes.values()})
        self._save_meta()

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

    def gateway_ports(self) -> dict[str, int]:
        """The ports of the universe's first gateway ({} without one): where browsers come in."""
        gateways = [
            r for r in self.nodes.values() if r.config.kind == "service" and r.config.name == "gateway"
        ]
        if not gateways:
            return {}
        first = min(gateways, key=lambda r: r.config.index)
        return {k: v for k, v in first.config.ports.items() if k in ("http", "https")}

    def copies(self, name: str, kind: str) -> int | None:
        return len(self.instances(name)) if kind == "service" else None

    def status(self) -> dict[str, Any]:
        """What `/status` shows of this universe. Never its key (upstream shows a `swarm-key`: with it any
        local process could sign node calls and read every webhook secret and deploy key from auth)."""
        services: dict[str, int] = {}
        for record in self.nodes.values():
            if record.config.kind == "service":
                services[record.config.name] = services.get(record.config.name, 0) + 1
        return {
            "id": self.id,
            "state": self.state,
            "keep": self.keep,
            "root": str(self.root),
            "node-count": len(self.nodes),
            "simples": sorted({r.config.name for r in self.nodes.values() if r.config.kind == "simple"}),
            "nodes": {
                i: [f"/ip4/127.0.0.1/tcp/{r.config.ports['p2p']}"] if r.serving else []
                for i, r in self.nodes.items()
            },
            "services": [{"name": n, "copies": c} for n, c in sorted(services.items())],
            "states": {i: {"name": r.config.label, **r.state_view()} for i, r in self.nodes.items()},
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
                "ports": dict(r.config.ports),
                **r.state_view(),
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


def base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _ports_of(stored: Any) -> dict[str, dict[str, int]]:
    """Stored ports as written by `_save_meta`; anything else (an older or hand-edited file) is ignored."""
    if not isinstance(stored, dict):
        return {}
    return {
        str(dirname): {str(k): v for k, v in ports.items() if isinstance(v, int) and 0 < v < 65536}
        for dirname, ports in stored.items()
        if isinstance(ports, dict)
    }
