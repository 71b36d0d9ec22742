"""Forks of a snapshot started ahead of the tests that ask for them (`fork_universe`).

A fork takes a snapshot load (unpacking, the nodes' start) and the first request's resolve: ~0.5-1 s on a
loaded machine, most of a short test. When a test asks for a fork of a snapshot, the pool hands it one
it started while the test before ran, and starts the next in the background: the test pays only what
its fork did not finish meanwhile. A pre-started fork is the same fresh universe a load then would make
(a test never gets one another test used); one made from a snapshot saved again since is thrown away.

`FORKS_AHEAD` (pytest ini `dream_forks_ahead`, 0 turns it off) forks are kept ready per snapshot and
`only`; the last test's goes unused and is killed when the test module ends.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from dream.client import DreamClient
from dream.testing.harness import DaemonProcess

FORKS_AHEAD = 1
FORKS_AHEAD_INI = "dream_forks_ahead"

Key = tuple[str, tuple[str, ...]]


def fork_name() -> str:
    return f"fork-{uuid.uuid4().hex[:10]}"


class ForkPool:
    """Forks made ahead per (snapshot, only), each with the snapshot's `created` time it was made from."""

    def __init__(self, daemon: DaemonProcess, reap: Callable[[str], None], ahead: int = FORKS_AHEAD) -> None:
        if ahead < 0:
            raise ValueError(f"{FORKS_AHEAD_INI} = {ahead}: give 0 (no forks ahead) or more")
        self.client = daemon.client()
        self._ahead_client = daemon.client()  # the loader thread's own
        self.reap = reap
        self.ahead = ahead
        self.ready: dict[Key, list[tuple[float, Future[str]]]] = {}
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dream-fork-ahead")

    def load(
        self,
        snapshot: str,
        only: Sequence[str] | None,
        name: str | None = None,
        client: DreamClient | None = None,
    ) -> str:
        """Load a fork now (the fixture's own load; errors go to the test)."""
        name = name or fork_name()
        (client or self.client).snapshot_load(snapshot, name, only=list(only) if only else None)
        return name

    def take(self, snapshot: str, only: Sequence[str] | None) -> str:
        """A fresh fork of `snapshot`: one made ahead if it is still of the snapshot as saved now."""
        key: Key = (snapshot, tuple(only or ()))
        created = self._created(snapshot)
        waiting = self.ready.setdefault(key, [])
        name = None
        while waiting and name is None:
            made_from, future = waiting.pop(0)
            try:
                made = future.result()
            except Exception:  # the load below reports what is wrong
                continue
            if created is not None and made_from == created:
                name = made
            else:  # the snapshot was saved again (or removed) since: not what the test asks for
                self.reap(made)
        if name is None:
            name = self.load(snapshot, only)
        if created is not None:
            while len(waiting) < self.ahead:
                waiting.append(
                    (created, self._loader.submit(self.load, snapshot, only, None, self._ahead_client))
                )
        return name

    def _created(self, snapshot: str) -> float | None:
        for meta in self.client.snapshots():
            if meta.get("name") == snapshot and "created" in meta:
                return float(meta["created"])
        return None

    def close(self) -> None:
        """Kill every fork made ahead that no test took."""
        self._loader.shutdown(wait=True)
        for waiting in self.ready.values():
            for _, future in waiting:
                with contextlib.suppress(Exception):
                    self.reap(future.result())
        self.ready.clear()
        self.client.close()
        self._ahead_client.close()
