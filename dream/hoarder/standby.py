"""Every hoarder's part in keeping the databases on two hoarders (`leadership.py` says who leads):

- at start, it asks the other hoarders which term they are at, and follows the newest;
- a standby follows the leader's change log (a short long-poll, so the leader sees it often) and
  applies it with the same sequence numbers; a standby whose store holds another term's history (or
  that the log no longer reaches back to) copies every keyspace whole first;
- a synced standby whose leader has not answered for FAILOVER_AFTER seconds takes over;
- the leader looks every PEER_CHECK seconds for a newer term (it steps down) and for standbys that
  stopped polling (asked, then detached).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import TYPE_CHECKING, Any

from dream.clients.hoarder import HoarderDatabases
from dream.errors import DreamError
from dream.hoarder.leadership import ASK_TIMEOUT, FAILOVER_AFTER, LEASE, PEER_CHECK, POLL_WAIT, Leadership
from dream.node import beat

if TYPE_CHECKING:
    from dream.hoarder.database_routes import DatabaseRoutes
    from dream.node.peers import PeerInfo

CHANGES_TIMEOUT = 30  # seconds for a whole-log read while catching up
RETRY = 0.2  # seconds between tries while the leader cannot be reached
JOIN_WAIT = 5.0  # seconds a starting hoarder keeps asking seer for the other hoarders


class Standby:
    def __init__(
        self, routes: DatabaseRoutes, hoarders: HoarderDatabases, lead: Leadership, log: logging.Logger
    ) -> None:
        self.routes = routes
        self.hoarders = hoarders
        self.lead = lead
        self.me = lead.me
        self.log = log
        self.copied = 0  # changes applied here (health)
        self.last_synced = -LEASE  # monotonic time a synced poll was sent (it may take over until + LEASE)

    async def _others(self, *, fresh: bool = True) -> list[PeerInfo]:
        """The other hoarders seer lists (none when it does not answer)."""
        found = await self.hoarders.peers.discover("hoarder", fresh=fresh)
        return [p for p in found if p.id != self.me]

    async def _terms(self, peers: list[PeerInfo]) -> list[tuple[int, str]]:
        """(term, leader) of each hoarder of `peers` that answers."""
        answers = await asyncio.gather(*(self.hoarders.leader(p, timeout=ASK_TIMEOUT) for p in peers))
        return [(a["term"], a["leader"]) for a in answers if a is not None]

    async def join(self) -> None:
        """Learn the newest term from the other hoarders, then lead if this hoarder is its leader."""
        others: list[PeerInfo] = []
        deadline = time.monotonic() + JOIN_WAIT
        # Until seer lists this hoarder (it announces itself once started), its listing may be missing
        # the others: leading on a stale record then could make two leaders.
        while True:
            found = await self.hoarders.peers.discover("hoarder", fresh=True)
            others = [p for p in found if p.id != self.me]
            if len(others) < len(found) or time.monotonic() > deadline:
                break
            await asyncio.sleep(RETRY)
        for term, leader in await self._terms(others):
            if term > self.lead.term:
                self.lead.adopt(term, leader)
        self.lead.joined = True
        if self.lead.leads_at_start():
            self.lead.lead(await self._seq())

    async def _seq(self) -> int:
        # A hoarder that never kept data has no store to open (nor SQLite to load) yet.
        return await asyncio.to_thread(self.routes.store.seq) if self.routes.path.exists() else 0

    async def run(self) -> None:
        """Join, then lead or follow (runs until cancelled)."""
        await self.join()
        following: str | None = None
        seq = -1
        while True:
            if self.lead.leading:
                following = None
                await self._watch()
                await asyncio.sleep(beat.pause(PEER_CHECK))
                continue
            term = self.lead.term
            sent = time.monotonic()
            leader: PeerInfo | None = None
            try:
                leader = await self._leader()
                if leader is None:
                    raise DreamError("the leading hoarder is not among the running ones")
                if following != leader.id or self.lead.data_term != term:
                    seq = await self._catch_up(leader, whole=self.lead.data_term != term)
                    following = leader.id
                answer = await self.hoarders.changes(
                    seq,
                    wait=POLL_WAIT,
                    timeout=POLL_WAIT + ASK_TIMEOUT,
                    at=leader,
                    standby=self.me,
                    term=term,
                )
            except DreamError:
                following = None
                if await self._may_take_over(leader):
                    self.lead.promote(await self._seq())
                else:
                    await asyncio.sleep(RETRY)
                continue
            if answer["term"] > term:
                self.lead.adopt(answer["term"], leader.id if leader else "")
                continue
            if answer["synced"]:
                self.last_synced = sent
            if (answer["first"] > seq + 1 and answer["changes"]) or answer["seq"] < seq:
                following = None  # the log no longer reaches back here: copy everything again
                continue
            await self._apply(answer["changes"])
            seq = answer["seq"]

    async def _leader(self) -> PeerInfo | None:
        """The hoarder this one follows: the one its record names, or at term 0 the first one."""
        found = await self.hoarders.peers.discover("hoarder")
        if self.lead.term:
            match = [p for p in found if p.id == self.lead.leader]
            if not match:
                found = await self.hoarders.peers.discover("hoarder", fresh=True)
                match = [p for p in found if p.id == self.lead.leader]
            return match[0] if match else None
        first = min(found, key=lambda p: (p.index, p.id), default=None)
        return None if first is None or first.id == self.me else first

    async def _may_take_over(self, leader: PeerInfo | None) -> bool:
        """Whether to take over: the leader has not answered for FAILOVER_AFTER seconds, this standby's
        last synced poll is younger than LEASE, it is the first standby, and no hoarder is at a newer
        term."""
        since = time.monotonic() - self.last_synced
        if not FAILOVER_AFTER <= since < LEASE - ASK_TIMEOUT:
            return False
        gone = leader.id if leader is not None else self.lead.leader
        try:
            others = [p for p in await self._others() if p.id != gone and (self.lead.term or p.index != 0)]
        except DreamError:
            return False
        if any(p.index < self.lead.index for p in others):
            return False
        for term, named in await self._terms(others):
            if term > self.lead.term:
                self.lead.adopt(term, named)
                return False
        return time.monotonic() - self.last_synced < LEASE

    async def _watch(self) -> None:
        """As leader: step down for a newer term; detach standbys that stopped polling (after asking
        them: one that took over makes this hoarder step down instead)."""
        try:
            others = await self._others(fresh=False)
        except DreamError:
            return
        by_id = {p.id: p for p in others}
        for term, leader in await self._terms(others):
            if term > self.lead.term:
                self.lead.adopt(term, leader)
                return
        for standby in self.lead.stale():
            peer = by_id.get(standby)
            said = None if peer is None else await self.hoarders.leader(peer, timeout=ASK_TIMEOUT)
            if said is not None and said["term"] > self.lead.term:
                self.lead.adopt(said["term"], said["leader"])
                return
            self.lead.detach(standby)

    async def _apply(self, listed: list[list[Any]]) -> None:
        from dream.hoarder.databases import Change  # SQLite's module: only once there is a copy to keep

        changes = [
            Change(s, space, key, None if value is None else base64.b64decode(value))
            for s, space, key, value in listed
        ]
        await asyncio.to_thread(self.routes.store.apply, changes)
        self.copied += len(changes)

    async def _catch_up(self, leader: PeerInfo, *, whole: bool) -> int:
        """Be current to the leader's log: from where this store stands when the log reaches back that
        far and the store holds the leader's term, else by copying every keyspace. The sequence number
        to follow from."""
        store = self.routes.store
        mine = await asyncio.to_thread(store.seq)
        if not whole:
            probe = await self.hoarders.changes(mine, wait=0, timeout=CHANGES_TIMEOUT, at=leader)
            if probe["first"] <= mine + 1 or not probe["changes"]:
                return mine
        start = (await self.hoarders.changes(-1, wait=0, timeout=CHANGES_TIMEOUT, at=leader))["seq"]
        spaces = await self.hoarders.spaces(at=leader)
        if whole:
            await asyncio.to_thread(store.reset)
        for space in spaces:
            snapshot = await self.hoarders.snapshot(space["space"], at=leader)
            rows = [(k, base64.b64decode(v), s) for k, v, s in snapshot["entries"]]
            await asyncio.to_thread(store.replace_space, space["space"], rows, snapshot["seq"])
        await asyncio.to_thread(store.advance, start)
        self.lead.data_term = self.lead.term
        self.lead.save()
        self.log.info(
            "copied %d keyspaces from hoarder %s; following its change log from %d",
            len(spaces),
            leader.id,
            start,
        )
        return start
