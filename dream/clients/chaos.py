"""Client of the fault routes every node serves on its p2p API (`dream.node.chaos`): one given node,
never failing over to another copy (the fault is meant for that one)."""

from __future__ import annotations

from typing import Any, TypedDict

import httpx

from dream.clients.base import ServiceError
from dream.node.peers import PeerClient, PeerInfo

FAULT_PATH = "/chaos/fault"


class FaultView(TypedDict):
    port: str  # http or p2p
    delay: float  # seconds added before each request
    rate: float  # share of requests answered `status` instead
    status: int
    remaining: float  # seconds until it ends by itself


class ChaosClient:
    def __init__(self, peers: PeerClient) -> None:
        self.peers = peers

    async def _json(self, peer: PeerInfo, method: str, **kwargs: Any) -> list[FaultView]:
        try:
            response = await self.peers.request(peer, method, FAULT_PATH, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceError(
                peer.name, method, FAULT_PATH, None, f"{peer.name} did not answer ({exc!r})"
            ) from None
        try:
            data = response.json()
        except ValueError:
            raise ServiceError(
                peer.name, method, FAULT_PATH, response.status_code, "the answer is not JSON"
            ) from None
        if response.status_code >= 400:
            said = data.get("error") if isinstance(data, dict) else None
            raise ServiceError(peer.name, method, FAULT_PATH, response.status_code, str(said or "refused"))
        return list(data["faults"])

    async def set_fault(
        self, peer: PeerInfo, *, port: str, delay: float, rate: float, seconds: float, status: int
    ) -> list[FaultView]:
        body = {"port": port, "delay": delay, "rate": rate, "seconds": seconds, "status": status}
        return await self._json(peer, "POST", json=body)

    async def clear(self, peer: PeerInfo, port: str = "all") -> list[FaultView]:
        return await self._json(peer, "DELETE", params={"port": port})

    async def faults(self, peer: PeerInfo) -> list[FaultView]:
        return await self._json(peer, "GET")
