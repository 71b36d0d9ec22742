"""Finding and calling the other nodes of a universe.

Nodes announce themselves (and heartbeat) to the universe's registries: seer nodes, the elder, and the
daemon as a last resort. Any node can ask a registry which peers run a service, then call them over
their signed p2p API.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dream.errors import DreamError
from dream.http.answers import answer
from dream.node.config import NodeConfig
from dream.node.security import UniverseAuth
from dream.node.validate import BOOLEAN, NAME, PORT, STRING, Body, Field, Integer, MapOf, OneOf

# A peer silent for this long is gone (heartbeats come every HEARTBEAT_SECONDS).
PEER_TTL_SECONDS = 10.0
# Each beat is a signed HTTP call to every registry and costs both ends about a millisecond of CPU on a
# slow machine: at one a second, a universe at rest kept taking the cores its serving nodes need (with
# the changes beside it, a lone client's p99 fell by a quarter or more; docs/performance.md). Every two
# seconds, staggered (`dream.node.beat`), with room in the TTL for a beat or two lost to a loaded machine
# (each waits ANNOUNCE_TIMEOUT at most).
HEARTBEAT_SECONDS = 2.0
ANNOUNCE_TIMEOUT = 2.0
DISCOVERY_CACHE_SECONDS = 1.0
# How long a registry has to list the peers; a call that found no node of its service asks once more
# and waits longer, for a registry slowed down by a loaded machine, before it fails.
DISCOVERY_TIMEOUT = 2.0
FRESH_DISCOVERY_TIMEOUT = 10.0

log = logging.getLogger("dream.peers")

# A node's announce (`PeerInfo` without `seen`): checked, as every node that discovers it uses its ports.
ANNOUNCE = Body(
    {
        "id": NAME,
        "name": NAME,
        "kind": OneOf("service", "simple"),
        "index": Integer(minimum=0),
        "pid": Integer(minimum=0),
        "ports": MapOf(PORT),
        "universe": NAME,
        "registry": Field(BOOLEAN, False),
        "sockets": Field(MapOf(STRING), {}),
    }
)

# Node-to-node traffic is plain HTTP on loopback. One shared context (made once, in the zygote) spares
# every node the cost of loading a CA bundle it would never use.
NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
NO_TLS.check_hostname = False
NO_TLS.verify_mode = ssl.CERT_NONE


@dataclass
class PeerInfo:
    id: str
    name: str  # service or simple name
    kind: str  # "service" | "simple"
    index: int
    pid: int
    ports: dict[str, int]
    universe: str
    registry: bool = False  # keeps a peer registry others can announce to
    # Unix socket paths serving some of `ports` too, by the same name ({"http": ".../http.sock"}): peers
    # on this machine may connect there instead (cheaper than loopback TCP). Absent in older announces.
    sockets: dict[str, str] = field(default_factory=dict)
    seen: float = field(default=0.0)

    @property
    def p2p_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['p2p']}"

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["age"] = round(time.monotonic() - self.seen, 3) if self.seen else None
        data.pop("seen")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PeerInfo:
        known = {k: data[k] for k in ("id", "name", "kind", "index", "pid", "ports", "universe") if k in data}
        sockets = data.get("sockets")
        return cls(
            **known,
            registry=bool(data.get("registry", False)),
            sockets=dict(sockets) if isinstance(sockets, dict) else {},
        )

    @classmethod
    def of(
        cls, config: NodeConfig, *, pid: int, registry: bool, sockets: dict[str, str] | None = None
    ) -> PeerInfo:
        return cls(
            id=config.id,
            name=config.name,
            kind=config.kind,
            index=config.index,
            pid=pid,
            ports=dict(config.ports),
            universe=config.universe,
            registry=registry,
            sockets=dict(sockets or {}),
        )


class PeerStore:
    """Peers that announced themselves here; entries expire without heartbeats."""

    def __init__(self, ttl: float = PEER_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._peers: dict[str, PeerInfo] = {}

    def announce(self, peer: PeerInfo) -> bool:
        """Record a heartbeat; True when the peer is new (or came back)."""
        self._expire()
        new = peer.id not in self._peers
        peer.seen = time.monotonic()
        self._peers[peer.id] = peer
        return new

    def remove(self, peer_id: str) -> None:
        self._peers.pop(peer_id, None)

    def peers(self, name: str | None = None) -> list[PeerInfo]:
        self._expire()
        found = [p for p in self._peers.values() if name is None or p.name == name]
        return sorted(found, key=lambda p: (p.name, p.index, p.id))

    def _expire(self) -> None:
        now = time.monotonic()
        for peer_id in [i for i, p in self._peers.items() if now - p.seen > self.ttl]:
            gone = self._peers.pop(peer_id)
            log.info("peer %s@%s (%s) stopped heartbeating; dropped", gone.name, gone.universe, gone.id)

    def routes(self) -> list[Route]:
        async def announce(request: Request) -> JSONResponse:
            body = await ANNOUNCE.read(request)
            if "p2p" not in body["ports"]:
                raise ANNOUNCE.refuse(request, "ports", 'must name the node\'s "p2p" port')
            peer = PeerInfo.from_dict(body)
            if self.announce(peer):
                log.info("peer %s@%s joined (%s, pid %s)", peer.name, peer.universe, peer.id, peer.pid)
            return JSONResponse({"ok": True})

        async def listing(request: Request) -> JSONResponse:
            name = request.query_params.get("name")
            return JSONResponse({"peers": [p.public() for p in self.peers(name)]})

        return [
            Route("/peers/announce", answer(announce), methods=["POST"]),
            Route("/peers", listing, methods=["GET"]),
        ]


class PeerClient:
    """Signed HTTP calls to other nodes of the same universe, found through the registries."""

    def __init__(
        self,
        *,
        secret: bytes,
        peer: str,
        universe_id: str,
        universe: str,
        registries: list[str],
        timeout: float = 30.0,
    ) -> None:
        self.universe = universe
        self.registries: list[str] = list(registries)
        self.http = httpx.AsyncClient(
            auth=UniverseAuth(secret, peer=peer, universe=universe_id),
            timeout=timeout,
            verify=NO_TLS,
            limits=httpx.Limits(max_keepalive_connections=32),
        )
        self._cache: dict[str | None, tuple[float, list[PeerInfo]]] = {}

    @classmethod
    def for_node(cls, config: NodeConfig) -> PeerClient:
        return cls(
            secret=config.secret,
            peer=config.id,
            universe_id=config.universe_id,
            universe=config.universe,
            registries=config.bootstrap,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def announce(self, me: PeerInfo, registries: list[str] | None = None) -> set[str]:
        """Announce to the registries (all by default); returns those that took it."""
        payload = {**asdict(me)}
        payload.pop("seen", None)
        targets = list(self.registries if registries is None else registries)
        results = await asyncio.gather(
            *(
                self.http.post(f"{url}/peers/announce", json=payload, timeout=ANNOUNCE_TIMEOUT)
                for url in targets
            ),
            return_exceptions=True,
        )
        return {
            url
            for url, r in zip(targets, results, strict=True)
            if isinstance(r, httpx.Response) and r.status_code == 200
        }

    async def discover(self, name: str | None = None, *, fresh: bool = False) -> list[PeerInfo]:
        """Peers running `name` (all peers when None), from the first registry that answers."""
        cached = self._cache.get(name)
        if cached and not fresh and time.monotonic() - cached[0] < DISCOVERY_CACHE_SECONDS:
            return cached[1]
        return await self._ask_registries(name, DISCOVERY_TIMEOUT) or []

    async def _ask_registries(self, name: str | None, timeout: float) -> list[PeerInfo] | None:
        """The first answer of a registry; None when none of them answered within `timeout`."""
        params = {"name": name} if name else {}
        for url in self.registries:
            try:
                response = await self.http.get(f"{url}/peers", params=params, timeout=timeout)
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                continue
            peers = [PeerInfo.from_dict(p) for p in response.json()["peers"]]
            self._learn_registries(peers)
            self._cache[name] = (time.monotonic(), peers)
            return peers
        return None

    def _learn_registries(self, peers: list[PeerInfo]) -> None:
        # A seer injected after this node started becomes a registry too.
        for peer in peers:
            if peer.registry and peer.p2p_url not in self.registries:
                self.registries.insert(0, peer.p2p_url)

    async def json(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        """Call and decode a JSON answer; an error answer becomes a DreamError with the node's sentence."""
        response = await self.call(service, method, path, **kwargs)
        try:
            data = response.json()
        except ValueError:
            raise DreamError(f"{service} answered {method} {path} with HTTP {response.status_code}") from None
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise DreamError(
                message or f"{service} answered {method} {path} with HTTP {response.status_code}"
            )
        return data

    async def call(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call `path` on some node running `service`, failing over to the others."""
        peers = await self.discover(service)
        if not peers:
            found = await self._ask_registries(service, FRESH_DISCOVERY_TIMEOUT)
            if found is None and self.registries:
                raise DreamError(
                    f"no registry of universe `{self.universe}` answered within {FRESH_DISCOVERY_TIMEOUT:g}s "
                    f"when asked for its `{service}` nodes (asked {', '.join(self.registries)}); "
                    "is its seer (or the daemon) running?"
                )
            peers = found or []
        if not peers:
            raise DreamError(f"no `{service}` node is running in universe `{self.universe}`")
        random.shuffle(peers)
        last: Exception | None = None
        for peer in peers:
            try:
                return await self.http.request(method, peer.p2p_url + path, **kwargs)
            except httpx.TransportError as exc:
                last = exc
        raise DreamError(f"every `{service}` node failed to answer {method} {path}: {last}")

    async def request(self, peer: PeerInfo, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, peer.p2p_url + path, **kwargs)
