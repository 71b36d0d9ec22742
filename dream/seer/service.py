"""seer: the universe's directory of nodes (announce + heartbeat) and its DNS server.

p2p:  POST /peers/announce, GET /peers   (the registry every node heartbeats to)
HTTP: GET /network/config                 {generated-domain suffix, services domain, universe}
      GET /peers                          (read-only view of the registry)
DNS:  on the node's dns port, UDP and TCP (see dream/seer/dns.py)
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dream.clients.tns import TnsClient
from dream.node import Node
from dream.seer.dns import DnsServers, UniverseResolver
from dream.settings import NETWORK_SUFFIX


class Service(Node):
    registry = True

    async def on_start(self) -> None:
        import asyncio

        resolver = UniverseResolver(
            self.config.universe, asyncio.get_running_loop(), self._nodes_for, self._has_domain
        )
        self.dns = DnsServers(resolver, self.config.ports["dns"])
        self.dns.start()

    async def on_stop(self) -> None:
        self.dns.stop()

    def health(self) -> dict[str, Any]:
        assert self.peerstore is not None
        return {"peers": len(self.peerstore.peers())}

    async def _nodes_for(self, service: str) -> list[str]:
        assert self.peerstore is not None
        return ["127.0.0.1" for _ in self.peerstore.peers(service)][:1]

    async def _has_domain(self, fqdn: str) -> bool:
        try:
            return await TnsClient(self.peers).domain_is_linked(fqdn)
        except Exception:
            return False

    def http_routes(self) -> list[BaseRoute]:
        async def network_config(request: Request) -> JSONResponse:
            universe = self.config.universe
            return JSONResponse(
                {
                    "universe": universe,
                    "fqdn": f"{universe}.{NETWORK_SUFFIX}",
                    "generated": f"g.{universe}.{NETWORK_SUFFIX}",
                    "services": f"tau.{universe}.{NETWORK_SUFFIX}",
                }
            )

        async def peers(request: Request) -> JSONResponse:
            assert self.peerstore is not None
            name = request.query_params.get("name")
            return JSONResponse({"peers": [p.public() for p in self.peerstore.peers(name)]})

        return [Route("/network/config", network_config), Route("/peers", peers)]
