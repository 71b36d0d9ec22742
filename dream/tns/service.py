"""tns: the Taubyte Name Service, a flattened key/value registry of projects, indexes and assets.

p2p API (JSON bodies; paths are `a/b/c` strings or segment lists):
  POST /tns/push   {path, data}            → {pushed: true, seq}
  POST /tns/push-many {items: [[path, data], ...]} → {pushed: true, seq} (in order)
  POST /tns/fetch  {path}                  → {object}
  POST /tns/lookup {prefix, regex?}        → {keys}
  POST /tns/list   {depth}                 → {keys: [[segment...]]}
  POST /tns/delete {path}                  → {deleted}
  GET  /tns/changes?after=N&wait=S         → {seq, changes: [[seq, path]]} (long-poll: readers learn of changes)
  GET  /tns/stats                          → {seq, keys}
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dream.node import Node
from dream.tns.store import PREFIX, TnsStore

MAX_WAIT = 30.0


def bad(message: str) -> JSONResponse:
    return JSONResponse({"code": 400, "error": message}, status_code=400)


class Service(Node):
    async def on_start(self) -> None:
        self.tns = TnsStore(self.store)

    def health(self) -> dict[str, Any]:
        return {"seq": self.tns.seq}

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/tns/push", self.push, methods=["POST"]),
            Route("/tns/push-many", self.push_many, methods=["POST"]),
            Route("/tns/fetch", self.fetch, methods=["POST"]),
            Route("/tns/fetch-many", self.fetch_many, methods=["POST"]),
            Route("/tns/lookup", self.lookup, methods=["POST"]),
            Route("/tns/list", self.listing, methods=["POST"]),
            Route("/tns/delete", self.delete, methods=["POST"]),
            Route("/tns/changes", self.changes, methods=["GET"]),
            Route("/tns/stats", self.stats, methods=["GET"]),
        ]

    async def _body(self, request: Request) -> dict[str, Any]:
        data = await request.json()
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        return data

    async def push(self, request: Request) -> JSONResponse:
        try:
            body = await self._body(request)
            seq = self.tns.push(body["path"], body.get("data"))
        except (ValueError, KeyError) as exc:
            return bad(f"tns push refused: {exc}")
        await self.tns.notify()
        return JSONResponse({"pushed": True, "seq": seq})

    async def push_many(self, request: Request) -> JSONResponse:
        """Several pushes in order, in one call (a config publish is dozens of entries)."""
        try:
            body = await self._body(request)
            seq = self.tns.seq
            for path, data in body["items"]:
                seq = self.tns.push(path, data)
        except (ValueError, KeyError, TypeError) as exc:
            return bad(f"tns push refused: {exc}")
        await self.tns.notify()
        return JSONResponse({"pushed": True, "seq": seq})

    async def fetch(self, request: Request) -> JSONResponse:
        try:
            body = await self._body(request)
            return JSONResponse({"object": self.tns.fetch(body["path"])})
        except (ValueError, KeyError) as exc:
            return bad(f"tns fetch refused: {exc}")

    async def fetch_many(self, request: Request) -> JSONResponse:
        """Several fetches in one call, answered in order (a substrate resolving a host needs dozens)."""
        try:
            body = await self._body(request)
            paths = body["paths"]
            if not isinstance(paths, list):
                raise ValueError("`paths` must be a list of paths")
            return JSONResponse({"objects": [self.tns.fetch(path) for path in paths]})
        except (ValueError, KeyError, TypeError) as exc:
            return bad(f"tns fetch refused: {exc}")

    async def lookup(self, request: Request) -> JSONResponse:
        try:
            body = await self._body(request)
            return JSONResponse({"keys": self.tns.lookup(body["prefix"], regex=bool(body.get("regex")))})
        except (ValueError, KeyError) as exc:
            return bad(f"tns lookup refused: {exc}")

    async def listing(self, request: Request) -> JSONResponse:
        body = await self._body(request)
        return JSONResponse({"keys": self.tns.list(int(body.get("depth", 1)))})

    async def delete(self, request: Request) -> JSONResponse:
        try:
            body = await self._body(request)
            removed = self.tns.delete(body["path"])
        except (ValueError, KeyError) as exc:
            return bad(f"tns delete refused: {exc}")
        await self.tns.notify()
        return JSONResponse({"deleted": removed})

    async def changes(self, request: Request) -> JSONResponse:
        after = int(request.query_params.get("after", "0") or 0)
        wait = min(float(request.query_params.get("wait", "0") or 0), MAX_WAIT)
        if wait:
            await self.tns.wait_change(after, wait)
        return JSONResponse({"seq": self.tns.seq, "changes": self.tns.changes(after)})

    async def stats(self, request: Request) -> JSONResponse:
        return JSONResponse({"seq": self.tns.seq, "keys": len(self.store.keys(PREFIX))})
