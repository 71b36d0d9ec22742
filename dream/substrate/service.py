"""substrate: serves the universe's HTTP functions (wasm, run by wasmtime) and websites.

HTTP (catch-all): Host + path + method → function or website, resolved through tns (`front`).
p2p:  GET /substrate/match?host=&path=&method=  → {match, warm}   (the gateway asks before choosing)
      GET /substrate/requests?after=&limit=     → the request inspector's records (`front.RECORD_FIELDS`)

This module only wires the parts: `sources` (tns and hoarder), `assets` (builds' bytes), `resolver`
(route tables and functions, following tns; `modules` holds the loaded builds), `runner` (calls within
the serving limits), `data` (functions' databases: replicas here, writes through hoarder), `website`
and `front` (the public port).
"""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

from dream.clients.hoarder import HoarderDatabases
from dream.clients.substrate import SubstrateClient
from dream.limits import Limits
from dream.node import Node
from dream.substrate import stages, startup
from dream.substrate.assets import Assets
from dream.substrate.data import Databases
from dream.substrate.front import Front
from dream.substrate.p2p import P2P
from dream.substrate.pubsub import PubSub
from dream.substrate.resolver import Resolver
from dream.substrate.runner import Runner
from dream.substrate.scope import Events
from dream.substrate.sources import Sources
from dream.substrate.website import Websites
from dream.substrate.websocket import ChannelSockets

if TYPE_CHECKING:
    from dream.node.config import NodeConfig
    from dream.wasm.host import WasmHost


class Service(Node):
    fast_loop = True
    own_http_server = True
    http_socket = True  # the gateway relays to it on a Unix socket (`dream.node.runtime.HTTP_SOCKET`)

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.limits = Limits.from_others(config.others)
        self.runner = Runner(self.limits)
        sources = self.sources = Sources(self.peers)
        assets = Assets(sources, config.root_path / "assets")
        self.databases = Databases(
            sources,
            HoarderDatabases(self.peers),
            self.log,
            config.root_path / "storage-files",
            budget=self.limits.replicas,
            idle=self.limits.replica_idle,
        )
        self.resolver = Resolver(sources, assets, self.limits, self.log, self.databases)
        self.pubsub = PubSub(
            sources,
            self.resolver,
            self.runner,
            SubstrateClient(self.peers),
            config.id,
            config.branches,
            self.log,
        )
        self.p2p = P2P(
            self.pubsub, self.resolver, self.runner, SubstrateClient(self.peers), config.id, self.log
        )
        self.events = Events(self.resolver, self.pubsub, self.p2p, config.universe, self.log)
        self.events.discover = self.peers.discover
        self.sockets = ChannelSockets(self.pubsub, self.log)
        self.websocket_upgrade = self.sockets.upgrade
        self.resolver.events = self.events
        websites = Websites(self.resolver, assets, config.root_path / "sites")
        self.front = Front(self.resolver, self.runner, websites, config.universe, self.log)
        self.front.node = config.id
        # The HTTP server calls the front itself: no hop through the service per request.
        self.fast_http = self.front.fast_http  # type: ignore[method-assign]  # see above

    async def on_start(self) -> None:
        if stages.enabled():
            stages.install()
        from dream.wasm import hostcall
        from dream.wasm.host import WasmHost

        # The request inspector's host-call counts and call figures, only with the inspector on.
        hostcall.count_calls(self.front.ring is not None, self.front.count_sink)

        self.host: WasmHost = WasmHost()  # the machine's module cache, which monkey fills
        self.log.info("serving limits: %s", self.limits.describe())
        self.resolver.start(self.host)
        self.databases.start(asyncio.get_running_loop())
        self.events.start(asyncio.get_running_loop(), self.config.ports["http"])
        self.pubsub.start(asyncio.get_running_loop())
        self.spawn(self.resolver.follow(), "follow-tns")
        # What tns already routes (a loaded snapshot, a kept universe) is resolved before it is asked for.
        self.spawn(startup.resolve_published(self.resolver), "startup-resolve")
        # What start-up made lives as long as the node: out of the cyclic collector's way, a full
        # collection scans only what requests made (the request inspector's ring keeps each record
        # alive across a few hundred requests, which promotes them and makes full collections frequent).
        gc.freeze()

    async def on_stop(self) -> None:
        self.databases.stop()
        self.runner.close()
        self.host.stop()

    def _inline(self) -> dict[str, int]:
        """Routes whose function runs inline now, and of those, the ones answered in one C call
        (counted here, when asked: nothing is counted per request)."""
        ready = [fn for fn in self.front.ready.values() if fn.inline]
        return {"routes": len(ready), "one_c_call": sum(fn.serve is not None for fn in ready)}

    def health(self) -> dict[str, Any]:
        return {
            "served": self.front.served,
            "modules": len(self.resolver.modules.loaded),
            "hosts": len(self.resolver.routes),
            # worker calls: running, queued, memory_reserved, stopped; inline calls rerun on a worker
            "calls": self.runner.health(),
            "inline": self._inline(),
            "wasm_call": self.host.call_path.name,  # raw, object or plain (DREAM_WASM_CALL)
            "databases": self.databases.health(),
            "pubsub": {**self.pubsub.health(), "websockets": self.sockets.open},
            "p2p": {"handled": self.p2p.handled},
            **({"stages": stages.snapshot()} if stages.enabled() else {}),
        }

    async def tls_certificate(self, name: str) -> tuple[str, str] | None:
        return await self.sources.certificate(name)

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/substrate/match", self.front.match, methods=["GET"]),
            *self.pubsub.routes(),
            *self.p2p.routes(),
            Route("/substrate/requests", self.front.requests, methods=["GET"]),
        ]

    def http_app(self) -> Any:
        return self.front.asgi
