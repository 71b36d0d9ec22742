"""The hoarder client: content-addressed blobs, each kept on at least two hoarders.

Routes: POST /hoarder/stash (raw body, optional `x-cid`), POST /hoarder/replica (to one given hoarder),
GET /hoarder/blob/{cid}, GET /hoarder/has/{cid}, GET /hoarder/list.
"""

from __future__ import annotations

from typing import TypedDict

import httpx

from dream.clients.base import ServiceClient, ServiceError
from dream.node.peers import PeerInfo

STASH = "/hoarder/stash"
REPLICA = "/hoarder/replica"
BLOB = "/hoarder/blob/{cid}"
HAS = "/hoarder/has/{cid}"
LIST = "/hoarder/list"
REPLICA_TIMEOUT = 30.0


class Stashed(TypedDict):
    """A stashed blob: its CID, size and the hoarders (peer ids) that keep it."""

    cid: str
    size: int
    replicas: list[str]


class HoarderClient(ServiceClient):
    service = "hoarder"

    async def stash(self, data: bytes, *, cid: str | None = None) -> Stashed:
        """Keep `data` (checked against `cid` when given, else its CID is computed) on two hoarders."""
        headers = {"x-cid": cid} if cid else None
        answer: Stashed = await self._json("POST", STASH, content=data, headers=headers)
        return answer

    async def replica(self, peer: PeerInfo, cid: str, data: bytes) -> bool:
        """Have the hoarder `peer` keep a copy; whether it took it (one hoarder's call to another)."""
        try:
            response = await self.peers.request(
                peer, "POST", REPLICA, content=data, headers={"x-cid": cid}, timeout=REPLICA_TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise ServiceError(self.service, "POST", REPLICA, None, f"{peer.id}: {exc}") from None
        return response.status_code == 200

    async def blob(self, cid: str) -> bytes | None:
        """The blob's bytes, None when the hoarder asked does not have it."""
        path = BLOB.format(cid=cid)
        response = await self._call("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self._decode("GET", path, response)  # raises with the hoarder's sentence
        return response.content

    async def has(self, cid: str, *, at: PeerInfo | None = None) -> bool:
        """Whether the hoarder asked (any one, or the hoarder `at`) keeps the blob."""
        path = HAS.format(cid=cid)
        if at is None:
            return bool((await self._json("GET", path))["has"])
        try:
            return bool((await self._json_at(at, "GET", path))["has"])
        except httpx.HTTPError as exc:
            raise ServiceError(self.service, "GET", path, None, f"{at.id}: {exc}") from None

    async def cids(self) -> list[str]:
        """The CIDs the hoarder asked keeps."""
        return list((await self._json("GET", LIST))["cids"])
