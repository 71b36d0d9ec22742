"""What the substrate reads from other nodes: tns (routes, current commits, build CIDs, its change log)
and hoarder (the bytes of builds). Every peer call of the substrate is here, one method each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dream.node.peers import PeerClient


class Sources:
    def __init__(self, peers: PeerClient) -> None:
        self.peers = peers

    async def tns_seq(self) -> int:
        """The sequence number of tns's latest change."""
        return int((await self.peers.json("tns", "GET", "/tns/stats"))["seq"])

    async def tns_changes(self, after: int, wait: int, timeout: float) -> Any:
        """tns's changes after `after` ({seq, changes: [[seq, path], ...]}), waiting up to `wait` seconds
        for one (a long-poll)."""
        return await self.peers.json(
            "tns", "GET", "/tns/changes", params={"after": after, "wait": wait}, timeout=timeout
        )

    async def tns_fetch(self, path: str) -> Any:
        """The object stored at `path` (None if there is none)."""
        return (await self.peers.json("tns", "POST", "/tns/fetch", json={"path": path}))["object"]

    async def tns_fetch_many(self, paths: list[str]) -> list[Any]:
        """The objects stored at `paths`, in their order, in one round trip."""
        if not paths:
            return []
        answer = await self.peers.json("tns", "POST", "/tns/fetch-many", json={"paths": paths})
        return list(answer["objects"])

    async def hoarder_blob(self, cid: str) -> bytes | None:
        """The bytes stored as `cid` in a hoarder, None if no hoarder has them."""
        response = await self.peers.call("hoarder", "GET", f"/hoarder/blob/{cid}")
        if response.status_code != 200:
            return None
        return response.content
