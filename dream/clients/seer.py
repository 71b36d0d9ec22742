"""The seer client: the universe's directory of nodes and its network settings.

Routes: GET /peers (p2p and HTTP; every registry serves it: seers, the elder, the daemon),
POST /peers/announce (a node's heartbeat, sent by `PeerClient.announce`), GET /network/config (HTTP).
"""

from __future__ import annotations

from typing import TypedDict

import httpx

from dream.clients.base import ServiceClient, ServiceError
from dream.node.peers import PeerInfo

PEERS = "/peers"
ANNOUNCE = "/peers/announce"
NETWORK_CONFIG = "/network/config"

# A node as the registries list it.
Peer = PeerInfo


class NetworkConfig(TypedDict):
    """The universe's domains: its own, the generated-domain suffix and the services domain."""

    universe: str
    fqdn: str
    generated: str
    services: str


async def registered(http: httpx.AsyncClient, registry_url: str) -> set[str]:
    """The ids of the nodes one registry (`http://127.0.0.1:<p2p port>`) knows, asked with a client that
    signs as the daemon does; an unreachable registry is a ServiceError, any other refusal no node."""
    try:
        response = await http.get(registry_url + PEERS)
    except httpx.HTTPError as exc:
        raise ServiceError("seer", "GET", PEERS, None, f"{registry_url}: {exc}") from None
    if response.status_code != 200:
        return set()
    return {p["id"] for p in response.json()["peers"]}


class SeerClient(ServiceClient):
    service = "seer"

    async def nodes(self, name: str | None = None) -> list[Peer]:
        """The nodes running `name` (every node when None), as a registry lists them now."""
        return await self.peers.discover(name, fresh=True)

    async def network_config(self) -> NetworkConfig:
        """The universe's domains, from some seer's HTTP port."""
        seers = [p for p in await self.peers.discover("seer") if "http" in p.ports]
        if not seers:
            raise ServiceError(self.service, "GET", NETWORK_CONFIG, None, "no seer node is running")
        url = f"http://127.0.0.1:{seers[0].ports['http']}{NETWORK_CONFIG}"
        response = await self.peers.http.get(url, auth=None)
        answer: NetworkConfig = self._decode("GET", NETWORK_CONFIG, response)
        return answer
