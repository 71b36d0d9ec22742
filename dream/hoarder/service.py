"""hoarder: a content-addressed blob store that keeps every stashed blob on at least two hoarders.

p2p API:
  POST /hoarder/stash        raw body, header `x-cid` (optional: computed when absent)
                             → {cid, size, replicas: [peer ids]}   (stash verifies the CID)
  POST /hoarder/replica      raw body, header `x-cid`: store a copy pushed by another hoarder
  GET  /hoarder/blob/{cid}   → the bytes (404 when not here)
  GET  /hoarder/has/{cid}    → {has}
  GET  /hoarder/list         → {cids}
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dream.hoarder.cid import cid_of, verify
from dream.node import Node

REPLICAS = 2


class Service(Node):
    async def on_start(self) -> None:
        self.blobs = self.config.root_path / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)

    def health(self) -> dict[str, Any]:
        return {"blobs": sum(1 for _ in self.blobs.iterdir())}

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/hoarder/stash", self.stash, methods=["POST"]),
            Route("/hoarder/replica", self.replica, methods=["POST"]),
            Route("/hoarder/blob/{cid}", self.blob, methods=["GET"]),
            Route("/hoarder/has/{cid}", self.has, methods=["GET"]),
            Route("/hoarder/list", self.listing, methods=["GET"]),
        ]

    def _path(self, cid: str) -> Path:
        if not cid.isalnum():
            raise ValueError(f"`{cid}` is not a CID")
        return self.blobs / cid

    def _keep(self, data: bytes, declared: str | None) -> tuple[str, str | None]:
        cid = declared or cid_of(data)
        problem = verify(cid, data)
        if problem:
            return cid, problem
        path = self._path(cid)
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return cid, None

    async def stash(self, request: Request) -> JSONResponse:
        data = await request.body()
        cid, problem = self._keep(data, request.headers.get("x-cid"))
        if problem:
            self.log.warning("refused a stash: %s", problem)
            return JSONResponse({"code": 400, "error": problem}, status_code=400)
        replicas = [self.config.id, *await self._replicate(cid, data)]
        self.log.info("stashed %s (%d bytes) on %d hoarder(s)", cid, len(data), len(replicas))
        return JSONResponse({"cid": cid, "size": len(data), "replicas": replicas})

    async def _replicate(self, cid: str, data: bytes) -> list[str]:
        """Copy to other hoarders until REPLICAS hold it (as many as exist when fewer)."""
        others = [p for p in await self.peers.discover("hoarder", fresh=True) if p.id != self.config.id]
        random.shuffle(others)
        done: list[str] = []
        for peer in others:
            if len(done) + 1 >= REPLICAS:
                break
            try:
                response = await self.peers.request(
                    peer, "POST", "/hoarder/replica", content=data, headers={"x-cid": cid}, timeout=30
                )
            except httpx.HTTPError as exc:
                self.log.warning("replica of %s to %s failed: %s", cid, peer.id, exc)
                continue
            if response.status_code == 200:
                done.append(peer.id)
        return done

    async def replica(self, request: Request) -> JSONResponse:
        data = await request.body()
        cid, problem = await asyncio.to_thread(self._keep, data, request.headers.get("x-cid"))
        if problem:
            return JSONResponse({"code": 400, "error": problem}, status_code=400)
        return JSONResponse({"cid": cid, "size": len(data)})

    async def blob(self, request: Request) -> Response:
        try:
            path = self._path(request.path_params["cid"])
        except ValueError as exc:
            return JSONResponse({"code": 400, "error": str(exc)}, status_code=400)
        if not path.exists():
            return JSONResponse(
                {"code": 404, "error": f"{path.name} is not on this hoarder"}, status_code=404
            )
        return FileResponse(path, media_type="application/octet-stream")

    async def has(self, request: Request) -> JSONResponse:
        try:
            return JSONResponse({"has": self._path(request.path_params["cid"]).exists()})
        except ValueError as exc:
            return JSONResponse({"code": 400, "error": str(exc)}, status_code=400)

    async def listing(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {"cids": sorted(p.name for p in self.blobs.iterdir() if not p.name.endswith(".tmp"))}
        )
