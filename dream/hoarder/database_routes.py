"""Hoarder's database routes (see `service.py` for the list) over one `DatabaseStore`.

The store is opened on the first database call: a hoarder whose universe keeps no data never opens it.
A put past a keyspace's limit is a 400 with the sentence saying so (the client's `DatabaseRefused`).
`changes` is a long-poll: it answers at once when there are changes after `after`, else when the next
write commits or `wait` seconds pass, so a substrate learns of a write within a round trip of it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dream.errors import DreamError
from dream.hoarder.leadership import Leadership, NotLeader
from dream.http.answers import answer, reply
from dream.http.longpoll import held
from dream.node import beat
from dream.node.validate import NAME, STRING, BadInput, Field, Query, QueryInt, QueryNumber, Text

if TYPE_CHECKING:
    from dream.hoarder.databases import DatabaseStore

MAX_WAIT = 30.0  # seconds a `changes` long-poll may be held open
MAX_TTL = 100 * 365 * 86400.0  # seconds: a streaming storage's ttl (a century is for good)
TTL_SWEEP = 1.0  # seconds between looks for streaming storages' files past their ttl
# A key: any text without control characters (the change log and `dream data` print them).
KEY = Text("a database key", pattern=r"[^\x00-\x1f\x7f]+", example="users/alice", empty=False)

_PUT = Query(
    {
        "space": Field(NAME),
        "key": Field(KEY),
        "project": Field(NAME),
        "app": Field(STRING, ""),
        "name": Field(NAME),
        "limit": Field(QueryInt(minimum=0)),
    }
)
_KEYED = Query({"space": Field(NAME), "key": Field(KEY)})
_PREFIXED = Query({"space": Field(NAME), "prefix": Field(STRING, "")})
_SPACE = Query({"space": Field(NAME)})
_CHANGES = Query(
    {
        "after": Field(QueryInt(minimum=-1)),
        "wait": Field(QueryNumber(0, MAX_WAIT), 0.0),
        "standby": Field(STRING, ""),  # a standby hoarder's id: it reads every committed change
        "term": Field(QueryInt(minimum=0), 0),
    }
)
_PROJECT = Query({"project": Field(STRING, "")})
# A storage file's name: one path segment (the SDK's ListFiles splits `/file/<name>/<version>` on `/`).
FILE_NAME = Text("a file name", pattern=r"[^/\x00-\x1f\x7f]+", example="avatar.png", empty=False)
_FLAG = Text("0 or 1", pattern=r"[01]", example="1", empty=False)
STORAGE_ADD = Query(
    {
        "space": Field(NAME),
        "name": Field(FILE_NAME),
        "overwrite": Field(_FLAG),
        "versioning": Field(_FLAG),
        "capacity": Field(QueryInt(minimum=0)),
        "ttl": Field(QueryNumber(0, MAX_TTL), 0.0),
        "project": Field(NAME),
        "app": Field(STRING, ""),
        "storage": Field(NAME),
    }
)
_REMOVE = Query(
    {"space": Field(NAME), "name": Field(FILE_NAME), "version": Field(QueryInt()), "storage": Field(NAME)}
)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class DatabaseRoutes:
    def __init__(
        self,
        path: Path,
        log: logging.Logger,
        keep: Callable[[Request], Awaitable[tuple[str, int]]],
        lead: Leadership,
    ) -> None:
        self.path = path
        self.log = log
        self.keep = keep  # keeps a request's body (a storage file's bytes) as a blob: (CID, size)
        self.lead = lead
        self._store: DatabaseStore | None = None

    @property
    def store(self) -> DatabaseStore:
        if self._store is None:
            # Imported here: a hoarder whose universe keeps no data never maps SQLite.
            from dream.hoarder.databases import DatabaseStore

            self._store = DatabaseStore(self.path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/hoarder/db/put", answer(self.put), methods=["POST"]),
            Route("/hoarder/db/delete", answer(self.delete), methods=["POST"]),
            Route("/hoarder/db/get", answer(self.get), methods=["GET"]),
            Route("/hoarder/db/keys", answer(self.keys), methods=["GET"]),
            Route("/hoarder/db/snapshot", answer(self.snapshot), methods=["GET"]),
            Route("/hoarder/db/changes", answer(self.changes), methods=["GET"]),
            Route("/hoarder/db/spaces", answer(self.spaces), methods=["GET"]),
            Route("/hoarder/db/leader", answer(self.leader), methods=["GET"]),
            Route("/hoarder/storage/add", answer(self.add_file), methods=["POST"]),
            Route("/hoarder/storage/delete", answer(self.delete_file), methods=["POST"]),
        ]

    async def _written(self, seq: int) -> Response | None:
        """Wait until the write at `seq` may be acknowledged: None, or the 409 when this hoarder no
        longer orders writes (the client asks again who does and retries there)."""
        self.lead.committed(seq)
        self.lead.wake()
        try:
            await self.lead.acknowledged(seq)
        except NotLeader as exc:
            return reply(409, str(exc))
        return None

    def _not_leader(self) -> Response | None:
        try:
            self.lead.check()
        except NotLeader as exc:
            return reply(409, str(exc))
        return None

    async def leader(self, request: Request) -> Any:
        """Which term this hoarder is at and who leads it (the client picks the highest term)."""
        lead = self.lead
        leader = lead.leader if lead.term else (lead.me if lead.index == 0 else "")
        return {"term": lead.term, "leader": leader, "leading": lead.leading, "me": lead.me}

    async def put(self, request: Request) -> Any:
        q = _PUT.read(request)
        value = await request.body()
        if refused := self._not_leader():
            return refused
        try:
            seq = self.store.put(
                q["space"],
                q["key"],
                value,
                project=q["project"],
                app=q["app"],
                name=q["name"],
                limit=q["limit"],
            )
        except DreamError as exc:  # DatabaseFull: nothing was written
            self.log.warning("refused a put of %d bytes at `%s`: %s", len(value), q["key"], exc)
            raise BadInput(str(exc)) from None
        return await self._written(seq) or {"seq": seq}

    async def delete(self, request: Request) -> Any:
        q = _KEYED.read(request)
        if refused := self._not_leader():
            return refused
        seq = self.store.delete(q["space"], q["key"])
        return await self._written(seq) or {"seq": seq}

    async def get(self, request: Request) -> Any:
        q = _KEYED.read(request)
        value = self.store.get(q["space"], q["key"])
        if value is None:
            return None  # 404
        return Response(value, media_type="application/octet-stream")

    async def keys(self, request: Request) -> Any:
        q = _PREFIXED.read(request)
        return {"keys": self.store.keys(q["space"], q["prefix"])}

    async def snapshot(self, request: Request) -> Any:
        q = _SPACE.read(request)
        seq, rows = self.store.snapshot(q["space"])
        return {"seq": seq, "entries": [[k, _b64(v), s] for k, v, s in rows]}

    async def changes(self, request: Request) -> Any:
        q = _CHANGES.read(request)
        after, wait, standby = q["after"], q["wait"], q["standby"]
        lead = self.lead
        if standby:
            lead.polled(standby, q["term"], after)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            # A standby reads every committed change; a substrate only what is acknowledged, so that
            # it never sees a write a takeover could drop.
            upto = None if standby or not lead.leading else lead.published
            moved = lead.moved()  # taken before the read: a write between the two still wakes this
            seq, first, found = self.store.changes(after, upto)
            if found or after < 0 or seq > after or loop.time() >= deadline:
                break
            if not await held(request, _until(moved, deadline - loop.time())):
                break  # its reader is gone
        if standby:
            lead.polled(standby, q["term"], after)
        listed = [[c.seq, c.space, c.key, None if c.value is None else _b64(c.value)] for c in found]
        return {
            "seq": found[-1].seq if found else seq,
            "first": first,
            "changes": listed,
            "term": lead.term,
            "synced": lead.synced(standby),
        }

    async def spaces(self, request: Request) -> Any:
        q = _PROJECT.read(request)
        return {"spaces": self.store.spaces(q["project"])}

    async def add_file(self, request: Request) -> Any:
        q = STORAGE_ADD.read(request)
        if refused := self._not_leader():
            return refused
        cid, size = await self.keep(request)  # in chunks, never whole in memory
        try:
            version, seq = self.store.add_file(
                q["space"],
                q["name"],
                cid,
                size,
                overwrite=q["overwrite"] == "1",
                versioning=q["versioning"] == "1",
                capacity=q["capacity"],
                expires=time.time() + q["ttl"] if q["ttl"] else 0.0,
                project=q["project"],
                app=q["app"],
                storage=q["storage"],
            )
        except DreamError as exc:  # StorageRefused: nothing was recorded
            self.log.warning("refused a file of %d bytes: %s", size, exc)
            raise BadInput(str(exc)) from None
        return await self._written(seq) or {"version": version, "seq": seq, "cid": cid, "size": size}

    async def sweep(self) -> None:
        """Remove streaming storages' files past their ttl, every TTL_SWEEP seconds, while this hoarder
        orders writes (runs until cancelled)."""
        while True:
            await asyncio.sleep(beat.pause(TTL_SWEEP))
            if not self.lead.leading or not self.path.exists():
                continue
            for space, name, version in self.store.expired(time.time()):
                try:
                    seq = self.store.delete_file(space, name, version, storage=space)
                except DreamError:
                    continue  # deleted meanwhile
                self.log.info(
                    "removed version %d of file `%s` of %s: past its storage's ttl", version, name, space
                )
                if await self._written(seq) is not None:
                    break  # stepped down: the new leader sweeps

    async def delete_file(self, request: Request) -> Any:
        q = _REMOVE.read(request)
        if refused := self._not_leader():
            return refused
        try:
            seq = self.store.delete_file(q["space"], q["name"], q["version"], storage=q["storage"])
        except DreamError as exc:
            raise BadInput(str(exc)) from None
        return await self._written(seq) or {"seq": seq}


async def _until(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
