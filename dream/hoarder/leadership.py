"""Which hoarder orders the database writes (the leader), and how another takes over when it is down.

- **Terms.** Leadership is a (term, leader) record each hoarder keeps in `leadership.json` beside its
  store. Term 0 is the universe's start: the first hoarder (index 0) leads. A standby that takes over
  makes term + 1 with itself as leader; the highest term any hoarder knows wins, so a hoarder that was
  down (or paused) and comes back asks the others first and follows the newer leader. Substrates ask
  the hoarders the same way (`HoarderDatabases`) and write to the leader of the highest term.
- **No acknowledged write lost.** The leader answers a write only once every attached standby (one
  that polled its change log within LEASE seconds) has applied it: an acknowledged write is on every
  hoarder that could take over. Substrates read the change log only up to that point (`published`), so
  they never see a write that a takeover could drop. A standby that stopped polling for LEASE is
  detached (writes are then acknowledged without it) only after it was asked and does not lead a newer
  term; a standby may take over only while its last synced poll is younger than LEASE, so it never
  takes over after the leader went on alone.
- **Takeover.** A synced standby whose leader does not answer for FAILOVER_AFTER seconds takes over.
  The old leader, back, finds the newer term, steps down (a write it had not acknowledged fails with
  409 and the client retries at the new leader) and copies the new leader's keyspaces whole, dropping
  whatever it held that was never acknowledged.

With more than two hoarders, only the standby of lowest index takes over; if the leader and that
standby are both down, writes wait for one of them. If the leader goes down, the standby takes over,
then goes down itself before the old leader is back, the old leader leads again on what it holds: the
writes of the newer term are back when that standby is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from dream.errors import DreamError

LEASE = 8.0  # seconds a standby stays attached (writes wait for it) after its last poll
FAILOVER_AFTER = 1.5  # seconds without an answer from the leader before a synced standby takes over
POLL_WAIT = 0.5  # seconds a standby's long-poll is held: it shows itself to the leader this often
ASK_TIMEOUT = 1.0  # seconds to ask another hoarder which term it is at
PEER_CHECK = 1.0  # seconds between a leader's looks for a newer term (and for detached standbys)


class NotLeader(DreamError):
    """This hoarder does not (or no longer) order writes: the client asks again who does."""


@dataclass(slots=True)
class Standby:
    """A standby as the leader sees it: when it last polled, what it has applied, and the published
    sequence number when it attached (writes up to there were acknowledged without it)."""

    seen: float
    confirmed: int
    floor: int
    attached: bool = True


class Leadership:
    def __init__(self, path: Path, me: str, index: int, log: logging.Logger) -> None:
        self.path = path
        self.me = me
        self.index = index
        self.log = log
        self.term = 0
        self.leader = ""  # at term 0: the hoarder of index 0
        self.data_term = 0  # the term whose history the local store holds
        self._load()
        self.joined = False  # asked the other hoarders which term they are at
        self.leading = False
        self.top = 0  # the last committed sequence number (while leading)
        self.published = 0  # writes up to here are acknowledged (every attached standby has them)
        self.standbys: dict[str, Standby] = {}
        self._changed = asyncio.Event()  # set (and replaced) when anything here moves

    def _load(self) -> None:
        try:
            record = json.loads(self.path.read_text())
            self.term, self.leader, self.data_term = (
                int(record["term"]),
                str(record["leader"]),
                int(record["data_term"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"term": self.term, "leader": self.leader, "data_term": self.data_term}))
        tmp.replace(self.path)

    def view(self) -> dict[str, object]:
        return {"term": self.term, "leader": self.leader, "leading": self.leading, "joined": self.joined}

    def wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def moved(self) -> asyncio.Event:
        """The event the next move sets (take it before looking, then wait on it)."""
        return self._changed

    async def changed(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    # -- leading ---------------------------------------------------------------------------------------

    def lead(self, seq: int) -> None:
        """Start ordering writes, the store being at `seq`."""
        self.leading = True
        self.top = self.published = seq
        self.standbys.clear()
        self.wake()

    def check(self) -> None:
        if not self.leading:
            raise NotLeader(f"hoarder {self.me} does not order database writes (term {self.term})")

    def committed(self, seq: int) -> None:
        self.top = max(self.top, seq)
        self._publish()

    async def acknowledged(self, seq: int) -> None:
        """Return once the write at `seq` may be acknowledged; NotLeader when this hoarder stepped down."""
        while self.published < seq:
            if not self.leading:
                raise NotLeader(f"hoarder {self.me} stepped down before write {seq} was copied")
            await self.changed(PEER_CHECK)
        if not self.leading:
            raise NotLeader(f"hoarder {self.me} stepped down")

    def polled(self, standby: str, term: int, after: int) -> None:
        """A standby at `term` asked for changes after `after` (so it has applied everything up to it)."""
        if not self.leading or term != self.term:
            return
        now = time.monotonic()
        found = self.standbys.get(standby)
        if found is None or not found.attached:
            self.standbys[standby] = Standby(now, after, self.published)
            self.log.info("standby %s attached at %d (published %d)", standby, after, self.published)
        else:
            found.seen = now
            found.confirmed = max(found.confirmed, after)
        self._publish()

    def synced(self, standby: str) -> bool:
        """Whether `standby` holds every acknowledged write (it may take over)."""
        found = self.standbys.get(standby)
        return bool(self.leading and found and found.attached and found.confirmed >= found.floor)

    def stale(self) -> list[str]:
        """Attached standbys that have not polled for LEASE seconds."""
        now = time.monotonic()
        return [k for k, s in self.standbys.items() if s.attached and now - s.seen > LEASE]

    def detach(self, standby: str) -> None:
        found = self.standbys.get(standby)
        if found is not None and found.attached:
            found.attached = False
            self.log.warning(
                "standby %s detached: writes are acknowledged without it until it is back", standby
            )
            self._publish()

    def _publish(self) -> None:
        waiting = [s.confirmed for s in self.standbys.values() if s.attached]
        target = min([self.top, *waiting])
        if target > self.published:
            self.published = target
            self.wake()

    # -- following -------------------------------------------------------------------------------------

    def adopt(self, term: int, leader: str) -> None:
        """Follow `leader` of the newer `term` (stepping down when leading)."""
        if term <= self.term and not (term == self.term and leader and leader != self.leader):
            return
        was = self.leading
        self.term, self.leader, self.leading = term, leader, False
        self.save()
        self.wake()  # writes waiting for an acknowledgement fail: the client retries at the leader
        self.log.warning(
            "%s hoarder %s of term %d",
            "stepped down for" if was else "following",
            leader or "of index 0",
            term,
        )

    def promote(self, seq: int) -> None:
        self.term += 1
        self.leader = self.me
        self.data_term = self.term
        self.save()
        self.lead(seq)
        self.log.warning("took over the database writes at term %d (store at %d)", self.term, seq)

    def leads_at_start(self) -> bool:
        """Whether this hoarder leads by its record (term 0: the first hoarder; later: the one named)."""
        return self.leader == self.me if self.term else self.index == 0
