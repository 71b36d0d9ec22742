"""hoarder: a content-addressed blob store that keeps every stashed blob on at least two hoarders.

p2p API:
  POST /hoarder/stash        raw body, header `x-cid` (optional: computed when absent)
                             → {cid, size, replicas: [peer ids]}   (stash verifies the CID)
  POST /hoarder/replica      raw body, header `x-cid`: store a copy pushed by another hoarder
  POST /hoarder/upload?id=&offset=   a piece of a large blob (`uploads.py`); stash, replica and storage
                             add then take `?upload=<id>` and no body
  GET  /hoarder/blob/{cid}   → the bytes (404 when not here)
  GET  /hoarder/has/{cid}    → {has}
  GET  /hoarder/list         → {cids}
A CID (in a path or `x-cid`) is checked before it names a file: anything else is refused with a 400.

Databases (the key/value keyspaces of functions, `databases.py`; routes in `database_routes.py`; writes
ordered by one hoarder, the leader, copied by the others, which take over when it is down: `leadership.py`,
`standby.py`; a write sent to a hoarder that does not lead is answered 409):
  POST /hoarder/db/put?space=&key=&project=&app=&name=&limit=   raw body → {seq}   (400: full)
  POST /hoarder/db/delete?space=&key=     → {seq}
  GET  /hoarder/db/get?space=&key=        → the value (404 when absent)
  GET  /hoarder/db/keys?space=&prefix=    → {keys}
  GET  /hoarder/db/snapshot?space=        → {seq, entries: [[key, base64 value, seq], ...]}
  GET  /hoarder/db/changes?after=&wait=   → {seq, first, changes: [[seq, space, key, base64|null]]}
  GET  /hoarder/db/changes?after=&wait=&standby=&term=  (a standby's poll) → the same + {term, synced}
  GET  /hoarder/db/spaces?project=        → {spaces: [{space, project, app, name, used, limit, keys}]}
  GET  /hoarder/db/leader                 → {term, leader, leading, me}
Storages (files by name and version: their bytes as blobs, their metadata in a keyspace):
  POST /hoarder/storage/add?space=&name=&overwrite=&versioning=&capacity=&project=&app=&storage=
                             raw body → {version, seq, cid, size}   (400: full, or the file exists)
  POST /hoarder/storage/delete?space=&name=&version=&storage=   → {seq}   (version 0: latest, -1: all)
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from dream.clients.base import ServiceError
from dream.clients.blobs import Spool
from dream.clients.hoarder import HoarderClient, HoarderDatabases
from dream.hoarder.cid import verify
from dream.hoarder.database_routes import DatabaseRoutes
from dream.hoarder.leadership import Leadership
from dream.hoarder.standby import Standby
from dream.hoarder.uploads import UPLOAD_ID, Uploads
from dream.http.answers import answer, reply
from dream.node import Node
from dream.node.config import NodeConfig
from dream.node.validate import CID, BadInput, Invalid

REPLICAS = 2


class Service(Node):
    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        config.root_path.mkdir(parents=True, exist_ok=True)
        self.blobs = config.root_path / "blobs"
        self.uploads = Uploads(self.blobs)
        self.lead = Leadership(config.root_path / "leadership.json", config.id, config.index, self.log)
        self.databases = DatabaseRoutes(
            config.root_path / "databases.sqlite", self.log, self._keep_file, self.lead
        )

    async def on_start(self) -> None:
        self.blobs = self.config.root_path / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        # One hoarder orders the database writes, the others keep copies and may take over (`standby.py`).
        self.standby = Standby(self.databases, HoarderDatabases(self.peers), self.lead, self.log)
        self.spawn(self.standby.run(), "standby")
        self.spawn(self.databases.sweep(), "ttl sweep")

    async def on_stop(self) -> None:
        self.databases.close()
        self.uploads.close()

    def health(self) -> dict[str, Any]:
        return {
            "blobs": sum(1 for _ in self.blobs.iterdir()),
            "database_changes_copied": self.standby.copied,
            "databases": self.lead.view(),
        }

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/hoarder/stash", answer(self.stash), methods=["POST"]),
            Route("/hoarder/upload", answer(self.uploads.piece), methods=["POST"]),
            Route("/hoarder/replica", answer(self.replica), methods=["POST"]),
            Route("/hoarder/blob/{cid}", answer(self.blob), methods=["GET"]),
            Route("/hoarder/has/{cid}", answer(self.has), methods=["GET"]),
            Route("/hoarder/list", answer(self.listing), methods=["GET"]),
            *self.databases.routes(),
        ]

    async def _receive(self, request: Request) -> tuple[str, int]:
        """Keep the request's body, or the upload it names (`?upload=<id>`: a large blob sent in pieces),
        as a blob: (its CID, its size). A declared `x-cid` is checked against the bytes; BadInput when
        it is not theirs."""
        declared = request.headers.get("x-cid")
        if declared is not None:
            try:
                CID.check(declared)  # also keeps blob names path-safe
            except Invalid as exc:
                raise BadInput(
                    f"header `x-cid` {exc.problem}; leave it out to have the CID computed"
                ) from None
        upload = request.query_params.get("upload")
        if upload:  # sent before in pieces (`uploads.py`)
            try:
                UPLOAD_ID.check(upload)
            except Invalid as exc:
                raise BadInput(f"query parameter `upload` {exc.problem}") from None
            spool = self.uploads.take(upload)
        else:
            spool = Spool(self.blobs)
        try:
            if not upload:
                spool.write(await request.body())  # a small blob, sent whole
            cid = spool.cid
            if declared is not None and declared != cid:
                # Another base or hash function than hoarder's own: checked the long way.
                problem = await asyncio.to_thread(verify, declared, spool.path.read_bytes())
                if problem:
                    raise BadInput(problem)
                cid = declared
            spool.keep(self.blobs / cid)
        except BaseException:
            spool.close()
            raise
        return cid, spool.size

    async def stash(self, request: Request) -> Any:
        try:
            cid, size = await self._receive(request)
        except BadInput as exc:
            self.log.warning("refused a stash: %s", exc)
            raise
        replicas = [self.config.id, *await self._replicate(cid)]
        self.log.info("stashed %s (%d bytes) on %d hoarder(s)", cid, size, len(replicas))
        return {"cid": cid, "size": size, "replicas": replicas}

    async def _replicate(self, cid: str) -> list[str]:
        """Copy to other hoarders until REPLICAS hold it (as many as exist when fewer), in chunks."""
        others = [p for p in await self.peers.discover("hoarder", fresh=True) if p.id != self.config.id]
        random.shuffle(others)
        hoarders = HoarderClient(self.peers)
        done: list[str] = []
        for peer in others:
            if len(done) + 1 >= REPLICAS:
                break
            try:
                took = await hoarders.replica(peer, cid, self.blobs / cid)
            except ServiceError as exc:
                self.log.warning("replica of %s to %s failed: %s", cid, peer.id, exc)
                continue
            if took:
                done.append(peer.id)
        return done

    async def _keep_file(self, request: Request) -> tuple[str, int]:
        """Keep a storage file's bytes (the request's body) as a blob, on two hoarders as a stash is:
        (its CID, its size)."""
        cid, size = await self._receive(request)
        await self._replicate(cid)
        return cid, size

    async def replica(self, request: Request) -> Any:
        cid, size = await self._receive(request)
        return {"cid": cid, "size": size}

    async def blob(self, request: Request) -> Response:
        path = self.blobs / CID.param(request, "cid")
        if not path.exists():
            return reply(404, f"{path.name} is not on this hoarder")
        return FileResponse(path, media_type="application/octet-stream")

    async def has(self, request: Request) -> Any:
        return {"has": (self.blobs / CID.param(request, "cid")).exists()}

    async def listing(self, request: Request) -> Any:
        return {"cids": sorted(p.name for p in self.blobs.iterdir() if not p.name.endswith(".tmp"))}
