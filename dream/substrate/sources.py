"""What the substrate reads from other nodes: tns (routes, current commits, build CIDs, its change log),
hoarder (the bytes of builds) and auth (the certificates of its HTTPS port), through their clients. The
substrate's one door to other nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dream.clients.auth import AuthClient
from dream.clients.base import ServiceError
from dream.clients.hoarder import HoarderClient
from dream.clients.tns import Changes, TnsClient

if TYPE_CHECKING:
    from dream.node.peers import PeerClient


class Sources:
    def __init__(self, peers: PeerClient) -> None:
        self.tns = TnsClient(peers)
        self.hoarder = HoarderClient(peers)
        self.auth = AuthClient(peers)

    async def certificate(self, name: str) -> tuple[str, str] | None:
        """(certificate chain, key) PEM of the domain a TLS client names; None when no project serves it."""
        return await self.auth.serving_certificate(name)

    async def tns_seq(self) -> int:
        """The sequence number of tns's latest change."""
        return (await self.tns.stats())["seq"]

    async def tns_changes(self, after: int, wait: int, timeout: float) -> Changes:
        """tns's changes after `after` ({seq, changes: [[seq, path], ...]}), waiting up to `wait` seconds
        for one (a long-poll)."""
        return await self.tns.changes(after, wait=wait, timeout=timeout)

    async def tns_fetch(self, path: str) -> Any:
        """The object stored at `path` (None if there is none)."""
        return await self.tns.fetch(path)

    async def tns_fetch_many(self, paths: list[str]) -> list[Any]:
        """The objects stored at `paths`, in their order, in one round trip."""
        return await self.tns.fetch_many(paths)

    async def tns_push(self, path: str, data: Any) -> int:
        """Store `data` at `path` (a `setSubscriptionChannel` subscription): tns's sequence number."""
        return await self.tns.push(path, data)

    async def tns_lookup(self, prefix: str) -> list[str]:
        """The keys stored under `prefix`."""
        return await self.tns.lookup(prefix)

    async def hoarder_blob(self, cid: str) -> bytes | None:
        """The bytes stored as `cid` in a hoarder, None if no hoarder has them."""
        try:
            return await self.hoarder.blob(cid)
        except ServiceError:
            return None
