"""Typed clients of the services' node APIs: one module per service, one method per route.

Every part of dream that calls another node goes through these (the daemon, its fixtures, the services
themselves, the tests): a route's string is written only in its client and in its service. Each client
wraps a `dream.node.peers.PeerClient` (which finds the nodes, signs the calls and fails over between
them); an error answer is a `ServiceError` naming the service, the route, the status and the node's
sentence. A new service or host-call family adds a client here.
"""

from __future__ import annotations

from dataclasses import dataclass

from dream.clients.auth import AuthClient
from dream.clients.base import ServiceError
from dream.clients.gateway import GatewayClient
from dream.clients.githost import GitHostClient
from dream.clients.hoarder import HoarderClient
from dream.clients.patrick import PatrickClient
from dream.clients.seer import SeerClient
from dream.clients.substrate import SubstrateClient
from dream.clients.tns import TnsClient
from dream.node.peers import PeerClient

__all__ = ["Clients", "ServiceError"]


@dataclass(frozen=True)
class Clients:
    """Every service's client over one `PeerClient` (cheap: the clients hold nothing else)."""

    peers: PeerClient

    @property
    def tns(self) -> TnsClient:
        return TnsClient(self.peers)

    @property
    def auth(self) -> AuthClient:
        return AuthClient(self.peers)

    @property
    def hoarder(self) -> HoarderClient:
        return HoarderClient(self.peers)

    @property
    def patrick(self) -> PatrickClient:
        return PatrickClient(self.peers)

    @property
    def seer(self) -> SeerClient:
        return SeerClient(self.peers)

    @property
    def git(self) -> GitHostClient:
        return GitHostClient(self.peers)

    @property
    def substrate(self) -> SubstrateClient:
        return SubstrateClient(self.peers)

    @property
    def gateway(self) -> GatewayClient:
        return GatewayClient(self.peers)
