"""A second copy of the databases: every hoarder but the home one (the first by index, which substrates
read and write) follows the home's change log and applies it to its own store, with the same sequence
numbers, so the data is on two hoarders within a round trip of each commit.

A standby that finds the home's log no longer reaching back to where it stands (it is new, or was away
for more writes than the log keeps) copies every keyspace whole first, then follows from there. The copy
is asynchronous: a write acknowledged by the home a moment before the home's disk is lost may be missing
here. Substrates do not fail over to a standby: they wait for the home to come back (its data is durable).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import TYPE_CHECKING

from dream.clients.hoarder import HoarderDatabases
from dream.errors import DreamError

if TYPE_CHECKING:
    from dream.hoarder.database_routes import DatabaseRoutes
    from dream.node.peers import PeerInfo

CHANGES_WAIT = 20  # seconds the home holds a long-poll open
CHANGES_TIMEOUT = 30
ALONE_PAUSE = 1.0  # seconds between looks for another hoarder while this one is the only one, or home
RETRY = 0.5  # seconds between tries while the home cannot be reached


class Standby:
    def __init__(
        self, routes: DatabaseRoutes, hoarders: HoarderDatabases, me: str, log: logging.Logger
    ) -> None:
        self.routes = routes
        self.hoarders = hoarders
        self.me = me  # this hoarder's peer id
        self.log = log
        self.copied = 0  # changes applied here (health)

    async def run(self) -> None:
        """Follow the home hoarder while this one is not it (runs until cancelled)."""
        following: str | None = None
        seq = -1
        while True:
            try:
                home = await self.hoarders.home()
            except DreamError:
                await asyncio.sleep(ALONE_PAUSE)
                continue
            if home.id == self.me:
                following = None
                await asyncio.sleep(ALONE_PAUSE)
                continue
            try:
                if following != home.id:
                    seq = await self._catch_up(home)
                    following = home.id
                answer = await self.hoarders.changes(seq, wait=CHANGES_WAIT, timeout=CHANGES_TIMEOUT, at=home)
            except DreamError:
                await asyncio.sleep(RETRY)
                continue
            if (answer["first"] > seq + 1 and answer["changes"]) or answer["seq"] < seq:
                following = None  # the log no longer reaches back here: copy everything again
                continue
            from dream.hoarder.databases import Change  # SQLite's module: only once there is a copy to keep

            changes = [
                Change(s, space, key, None if value is None else base64.b64decode(value))
                for s, space, key, value in answer["changes"]
            ]
            await asyncio.to_thread(self.routes.store.apply, changes)
            self.copied += len(changes)
            seq = answer["seq"]

    async def _catch_up(self, home: PeerInfo) -> int:
        """Be current to the home's log: from where this store stands when the log reaches back that far,
        else by copying every keyspace. The sequence number to follow from."""
        store = self.routes.store
        mine = await asyncio.to_thread(store.seq)
        probe = await self.hoarders.changes(mine, wait=0, timeout=CHANGES_TIMEOUT, at=home)
        if probe["first"] <= mine + 1 or not probe["changes"]:
            return mine
        start = (await self.hoarders.changes(-1, wait=0, timeout=CHANGES_TIMEOUT, at=home))["seq"]
        spaces = await self.hoarders.spaces(at=home)
        for space in spaces:
            snapshot = await self.hoarders.snapshot(space["space"], at=home)
            rows = [(k, base64.b64decode(v), s) for k, v, s in snapshot["entries"]]
            await asyncio.to_thread(store.replace_space, space["space"], rows, snapshot["seq"])
        self.log.info(
            "copied %d keyspaces from hoarder %s; following its change log from %d",
            len(spaces),
            home.id,
            start,
        )
        return start
