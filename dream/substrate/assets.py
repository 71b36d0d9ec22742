"""The bytes of builds (tns's `assets`) on this node, by CID: fetched from a hoarder once, then kept in
the node's `assets` folder (a CID names its content: a kept copy is never stale)."""

from __future__ import annotations

from pathlib import Path

from dream.errors import DreamError
from dream.substrate.sources import Sources


class Assets:
    def __init__(self, sources: Sources, folder: Path) -> None:
        self.sources = sources
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, cid: str) -> Path:
        return self.folder / cid

    def has(self, cid: str) -> bool:
        return (self.folder / cid).exists()

    async def get(self, cid: str, name: str = "") -> bytes:
        """The build's bytes, from here if kept, else from a hoarder (`name`: the resource, for errors)."""
        path = self.folder / cid
        return path.read_bytes() if path.exists() else await self.download(cid, name)

    async def download(self, cid: str, name: str = "") -> bytes:
        data = await self.sources.hoarder_blob(cid)
        if data is None:
            raise DreamError(f"the build {cid} of `{name or cid}` is not in any hoarder")
        kept = self.folder / cid
        tmp = kept.with_suffix(f".{id(data)}.tmp")  # unique per download: two at once never share it
        tmp.write_bytes(data)
        tmp.replace(kept)
        return data
