"""hoarder: a content-addressed blob store that keeps every stashed blob on at least two hoarders.

p2p API:
  POST /hoarder/stash        raw body, header `x-cid` (optional: computed when absent)
                             → {cid, size, replicas: [peer ids]}   (stash verifies the CID)
  POST /hoarder/replica      raw body, header `x-cid`: store a copy pushed by another hoarder
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
import os
import random
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from dream.clients.base import ServiceError
from dream.clients.hoarder import HoarderClient, HoarderDatabases
from dream.hoarder.cid import cid_of, verify
from dream.hoarder.database_routes import DatabaseRoutes
from dream.hoarder.leadership import Leadership
from dream.hoarder.standby import Standby
from dream.http.answers import answer, reply
from dream.node import Node
from dream.node.config import NodeConfig
from dream.node.validate import CID, BadInput, Invalid

REPLICAS = 2


class Service(Node):
    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        config.root_path.mkdir(parents=True, exist_ok=True)
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

    async def on_stop(self) -> None:
        self.databases.close()

    def health(self) -> dict[str, Any]:
        return {
            "blobs": sum(1 for _ in self.blobs.iterdir()),
            "database_changes_copied": self.standby.copied,
            "databases": self.lead.view(),
        }

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/hoarder/stash", answer(self.stash), methods=["POST"]),
            Route("/hoarder/replica", answer(self.replica), methods=["POST"]),
            Route("/hoarder/blob/{cid}", answer(self.blob), methods=["GET"]),
            Route("/hoarder/has/{cid}", answer(self.has), methods=["GET"]),
            Route("/hoarder/list", answer(self.listing), methods=["GET"]),
            *self.databases.routes(),
        ]

    def _keep(self, data: bytes, declared: str | None) -> tuple[str, str | None]:
        if declared is not None:
            try:
                CID.check(declared)  # also keeps blob names path-safe
            except Invalid as exc:
                return declared, f"header `x-cid` {exc.problem}; leave it out to have the CID computed"
        cid = declared or cid_of(data)
        problem = verify(cid, data)
        if problem:
            return cid, problem
        path = self.blobs / cid
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return cid, None

    async def stash(self, request: Request) -> Any:
        data = await request.body()
        cid, problem = self._keep(data, request.headers.get("x-cid"))
        if problem:
            self.log.warning("refused a stash: %s", problem)
            raise BadInput(problem)
        replicas = [self.config.id, *await self._replicate(cid, data)]
        self.log.info("stashed %s (%d bytes) on %d hoarder(s)", cid, len(data), len(replicas))
        return {"cid": cid, "size": len(data), "replicas": replicas}

    async def _replicate(self, cid: str, data: bytes) -> list[str]:
        """Copy to other hoarders until REPLICAS hold it (as many as exist when fewer)."""
        others = [p for p in await self.peers.discover("hoarder", fresh=True) if p.id != self.config.id]
        random.shuffle(others)
        hoarders = HoarderClient(self.peers)
        done: list[str] = []
        for peer in others:
            if len(done) + 1 >= REPLICAS:
                break
            try:
                took = await hoarders.replica(peer, cid, data)
            except ServiceError as exc:
                self.log.warning("replica of %s to %s failed: %s", cid, peer.id, exc)
                continue
            if took:
                done.append(peer.id)
        return done

    async def _keep_file(self, data: bytes) -> str:
        """Keep a storage file's bytes as a blob (on two hoarders, as a stash is): its CID."""
        cid, problem = await asyncio.to_thread(self._keep, data, None)
        if problem:
            raise BadInput(problem)
        await self._replicate(cid, data)
        return cid

    async def replica(self, request: Request) -> Any:
        data = await request.body()
        cid, problem = await asyncio.to_thread(self._keep, data, request.headers.get("x-cid"))
        if problem:
            raise BadInput(problem)
        return {"cid": cid, "size": len(data)}

    async def blob(self, request: Request) -> Response:
        path = self.blobs / CID.param(request, "cid")
        if not path.exists():
            return reply(404, f"{path.name} is not on this hoarder")
        return FileResponse(path, media_type="application/octet-stream")

    async def has(self, request: Request) -> Any:
        return {"has": (self.blobs / CID.param(request, "cid")).exists()}

    async def listing(self, request: Request) -> Any:
        return {"cids": sorted(p.name for p in self.blobs.iterdir() if not p.name.endswith(".tmp"))}
