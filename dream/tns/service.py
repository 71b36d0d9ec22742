"""tns: the Taubyte Name Service, a flattened key/value registry of projects, indexes and assets.

p2p API (JSON bodies; paths are `a/b/c` strings or segment lists):
  POST /tns/push   {path, data}            → {pushed: true, seq}
  POST /tns/push-many {items: [[path, data], ...]} → {pushed: true, seq} (in order)
  POST /tns/fetch  {path}                  → {object}
  POST /tns/fetch-many {paths: [path, ...]} → {objects} (in order)
  POST /tns/lookup {prefix, regex?}        → {keys}
  POST /tns/list   {depth}                 → {keys: [[segment...]]}
  POST /tns/delete {path}                  → {deleted}
  GET  /tns/changes?after=N&wait=S         → {seq, changes: [[seq, path]]} (long-poll: readers learn of changes)
  GET  /tns/stats                          → {seq, keys}
Each route's shape is declared below (dream.node.validate): anything else is refused with a 400 naming the field.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from dream.http.answers import answer
from dream.http.longpoll import held
from dream.node import Node
from dream.node.validate import (
    ANY,
    BOOLEAN,
    Body,
    Custom,
    Field,
    Integer,
    ListOf,
    Pair,
    Query,
    QueryInt,
    QueryNumber,
)
from dream.tns.flat import normalize
from dream.tns.store import PREFIX, TnsStore

MAX_WAIT = 30.0


def _segments(value: Any) -> str | list[str]:
    """A path (or a lookup's prefix) as given: a string, or a list of strings."""
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(p, str) for p in value)):
        return value
    raise ValueError("")


def _path(value: Any) -> str:
    return normalize(_segments(value))  # ValueError: why it is not a path (no segment, a '/' in one)


PATH = Custom('a tns path ("a/b/c" or ["a", "b", "c"])', '"a/b/c" or ["a", "b", "c"]', _path)
# With `regex` the prefix is a pattern, so it is normalised only without.
PREFIX_KIND = Custom(
    'a tns path ("a/b/c" or ["a", "b", "c"]), or a regular expression with `regex`', '"a/b"', _segments
)

PUSH = Body({"path": PATH, "data": Field(ANY, None)})
PUSH_MANY = Body({"items": ListOf(Pair(PATH, ANY, hint="[path, data]"))})
FETCH = Body({"path": PATH})
FETCH_MANY = Body({"paths": ListOf(PATH)})
LOOKUP = Body({"prefix": PREFIX_KIND, "regex": Field(BOOLEAN, False)})
LIST = Body({"depth": Field(Integer(minimum=1), 1)})
DELETE = Body({"path": PATH})
CHANGES = Query({"after": Field(QueryInt(minimum=0), 0), "wait": Field(QueryNumber(minimum=0), 0.0)})


class Service(Node):
    async def on_start(self) -> None:
        self.tns = TnsStore(self.store)

    def health(self) -> dict[str, Any]:
        return {"seq": self.tns.seq}

    def p2p_routes(self) -> list[BaseRoute]:
        return [
            Route("/tns/push", answer(self.push), methods=["POST"]),
            Route("/tns/push-many", answer(self.push_many), methods=["POST"]),
            Route("/tns/fetch", answer(self.fetch), methods=["POST"]),
            Route("/tns/fetch-many", answer(self.fetch_many), methods=["POST"]),
            Route("/tns/lookup", answer(self.lookup), methods=["POST"]),
            Route("/tns/list", answer(self.listing), methods=["POST"]),
            Route("/tns/delete", answer(self.delete), methods=["POST"]),
            Route("/tns/changes", answer(self.changes), methods=["GET"]),
            Route("/tns/stats", answer(self.stats), methods=["GET"]),
        ]

    async def push(self, request: Request) -> Any:
        body = await PUSH.read(request)
        seq = self.tns.push(body["path"], body["data"])
        await self.tns.notify()
        return {"pushed": True, "seq": seq}

    async def push_many(self, request: Request) -> Any:
        """Several pushes in order, in one call (a config publish is dozens of entries)."""
        body = await PUSH_MANY.read(request)
        seq = self.tns.seq
        for path, data in body["items"]:
            seq = self.tns.push(path, data)
        await self.tns.notify()
        return {"pushed": True, "seq": seq}

    async def fetch(self, request: Request) -> Any:
        body = await FETCH.read(request)
        return {"object": self.tns.fetch(body["path"])}

    async def fetch_many(self, request: Request) -> Any:
        """Several fetches in one call, answered in order (a substrate resolving a host needs dozens)."""
        body = await FETCH_MANY.read(request)
        return {"objects": [self.tns.fetch(path) for path in body["paths"]]}

    async def lookup(self, request: Request) -> Any:
        body = await LOOKUP.read(request)
        prefix = body["prefix"]
        if body["regex"]:
            try:
                re.compile(prefix if isinstance(prefix, str) else "/".join(prefix))
            except re.error as exc:
                raise LOOKUP.refuse(request, "prefix", f"is not a regular expression: {exc}") from None
        else:
            try:
                prefix = normalize(prefix)
            except ValueError as exc:
                raise LOOKUP.refuse(request, "prefix", f"is not a tns path: {exc}") from None
        return {"keys": self.tns.lookup(prefix, regex=body["regex"])}

    async def listing(self, request: Request) -> Any:
        body = await LIST.read(request)
        return {"keys": self.tns.list(body["depth"])}

    async def delete(self, request: Request) -> Any:
        body = await DELETE.read(request)
        removed = self.tns.delete(body["path"])
        await self.tns.notify()
        return {"deleted": removed}

    async def changes(self, request: Request) -> Any:
        params = CHANGES.read(request)
        wait = min(params["wait"], MAX_WAIT)  # a longer wait is cut to MAX_WAIT, not refused
        if wait:
            await held(request, self.tns.wait_change(params["after"], wait))  # its reader may be gone
        return {"seq": self.tns.seq, "changes": self.tns.changes(params["after"])}

    async def stats(self, request: Request) -> Any:
        return {"seq": self.tns.seq, "keys": len(self.store.keys(PREFIX))}
