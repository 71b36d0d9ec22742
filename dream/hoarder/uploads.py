"""Blobs sent to hoarder in pieces: each piece is its own request (of at most UPLOAD_PIECE bytes), appended
to a file as it comes, so a node's HTTP server, which reads a request's body whole, never holds more
than a piece of a large file. The blob is then kept (stash, replica, storage add) by naming its upload.

    POST /hoarder/upload?id=&offset=   raw body (a piece) → {size}   (the bytes received so far)

A piece at the wrong offset is refused (400, saying the offset expected); a piece sent again (a retry of
one that was received) is taken as received. An upload left without a piece for UPLOAD_IDLE seconds is
dropped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from starlette.requests import Request

from dream.clients.blobs import Spool
from dream.node.validate import BadInput, Field, Query, QueryInt, Text

UPLOAD_IDLE = 120.0  # seconds an unfinished upload is kept without a new piece
UPLOAD_ID = Text("an upload id", pattern=r"[0-9a-f]{16,64}", example="4f2a9c0e1b7d3a5f", empty=False)
_PIECE = Query({"id": Field(UPLOAD_ID), "offset": Field(QueryInt(minimum=0))})


class Uploads:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._open: dict[str, tuple[Spool, float]] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for key, (spool, last) in list(self._open.items()):
            if now - last > UPLOAD_IDLE:
                spool.close()
                del self._open[key]

    async def piece(self, request: Request) -> Any:
        q = _PIECE.read(request)
        self._expire()
        data = await request.body()
        spool = self._open[q["id"]][0] if q["id"] in self._open else None
        size = spool.size if spool is not None else 0
        if spool is not None and q["offset"] + len(data) == size and q["offset"] != size:
            pass  # this piece was received before (a retry): taken as it is
        elif q["offset"] != size:
            # No file is opened for a refused piece: an unknown upload's stray piece leaves nothing behind.
            raise BadInput(
                f"upload {q['id']} is at byte {size}, not {q['offset']}: send the piece from {size}"
            )
        else:
            if spool is None:
                spool = Spool(self.directory)
            spool.write(data)
        self._open[q["id"]] = (spool, time.monotonic())
        return {"size": spool.size}

    def take(self, upload: str) -> Spool:
        """The finished upload `upload` (no longer listed here); BadInput when there is none."""
        found = self._open.pop(upload, None)
        if found is None:
            raise BadInput(
                f"no upload {upload} on this hoarder (it was finished, or dropped after {UPLOAD_IDLE:g}s)"
            )
        return found[0]

    def close(self) -> None:
        for spool, _ in self._open.values():
            spool.close()
        self._open.clear()
