"""The substrate's side of functions' databases: names resolved through tns, reads from a local replica,
writes through hoarder.

- **Resolution** (`database.New(name)`): the databases of the function's application, then of its
  project, at the function's commit (the project object tns holds); the first whose `match` equals the
  name (or, with `useRegex`, whose regex finds it) wins. Each (project, application, name asked) is a
  keyspace of its own, as upstream keys them.
- **Reads** come from the substrate's replica of the keyspace: loaded whole from hoarder when a
  function first opens it, then kept current by following hoarder's change log (a long-poll), so a
  write through another substrate is read here within a round trip of its commit.
- **Writes** go to hoarder and return once committed there (then they are applied here too, so the
  function reads its own writes). A write refused (the keyspace is full) or failed gives the guest its
  errno and a log line; nothing stored is lost.

Reads from a replica held here need no wait, so a function using data may run inline on the event
loop; what needs the network runs on the loop through `wait`, from a worker thread: on the loop itself
`wait` raises NeedsWorker and the call is rerun on a worker (`dream.wasm.database`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from base64 import b64decode
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from dream.clients.blobs import Spool
from dream.clients.hoarder import GLOBALS, DatabaseRefused, HoarderDatabases, globals_space
from dream.errors import DreamError
from dream.substrate.resources import DEFAULT_DATABASE_SIZE, Opened, describe, resolve
from dream.substrate.routing import Resource
from dream.substrate.sources import Sources
from dream.tcc import tns_keys
from dream.wasm import database as family

T = TypeVar("T")

_CID = re.compile(r"b[a-z2-7]{8,200}")  # a CID as hoarder names blobs (it also names a file here)
WAIT_TIMEOUT = 10.0  # seconds a host call waits for tns or hoarder
CHANGES_WAIT = 20  # seconds hoarder holds a long-poll on its change log open
CHANGES_TIMEOUT = 30  # seconds before such a long-poll is given up
RETRY = 0.5  # seconds between tries while hoarder cannot be reached
PROJECTS_KEPT = 256  # project configs (per commit) kept for resolving names
NAMES_KEPT = 4096  # resolved names kept (a function may ask for any name)
REPLICAS_BUDGET = 256 << 20  # the default of the substrate's `replicas` limit (dream.limits)
REPLICA_IDLE = 600.0  # the default of its `replica_idle` limit
IDLE_SWEEP = 5.0  # seconds between looks for idle replicas at most


def _size(key: str, value: bytes | None) -> int:
    return len(key) + (0 if value is None else len(value))


def opened_key(resource: Resource, kind: str, name: str) -> tuple[str, str, str, str, str]:
    """How a resolved name is remembered: per project commit, application, kind and name."""
    return (resource.project, resource.branch, resource.commit, resource.app or "", f"{kind}:{name}")


@dataclass(slots=True)
class Replica:
    """This substrate's copy of one keyspace: key → (sequence number of its last write, value or None
    when deleted). Changes at or before `base` (the snapshot it was loaded from) are already in it."""

    base: int = -1
    entries: dict[str, tuple[int, bytes | None]] = field(default_factory=dict)
    loaded: bool = False
    pending: list[tuple[int, str, bytes | None]] = field(default_factory=list)  # while loading
    ready: asyncio.Future[None] | None = None
    size: int = 0  # bytes of keys and values held (what counts against the `replicas` limit)
    read: float = 0.0  # monotonic time it was last read (the least recently read is dropped first)

    def apply(self, seq: int, key: str, value: bytes | None) -> None:
        if not self.loaded:
            self.pending.append((seq, key, value))
            return
        if seq <= self.base:
            return
        known = self.entries.get(key)
        if known is None or known[0] < seq:
            self.size += _size(key, value) - (0 if known is None else _size(key, known[1]))
            self.entries[key] = (seq, value)

    def value(self, key: str) -> bytes | None:
        found = self.entries.get(key)
        return None if found is None else found[1]

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k, (_, v) in list(self.entries.items()) if v is not None and k.startswith(prefix))


class Databases:
    """Every keyspace this substrate's functions use. Network work runs on the substrate's loop."""

    def __init__(
        self,
        sources: Sources,
        hoarder: HoarderDatabases,
        log: logging.Logger,
        files: Path | None = None,
        *,
        budget: int = REPLICAS_BUDGET,
        idle: float = REPLICA_IDLE,
    ) -> None:
        self.budget = budget  # bytes of replicas held here at most (the substrate's `replicas` limit)
        self.idle = idle  # seconds a replica is held without being read (`replica_idle`)
        self.evicted = 0  # replicas dropped to stay within the budget
        self.evicted_idle = 0  # replicas dropped for not being read
        self.files = files  # where storage files' bytes are kept here, by CID (never stale)
        self.sources = sources
        self.hoarder = hoarder
        self.log = log
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self.replicas: dict[str, Replica] = {}
        self.projects: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self.opened: dict[tuple[str, str, str, str, str], Opened | None] = {}
        self.position = -1  # the change log's sequence number the replicas are current to
        self.waits = 0  # host calls that had to wait for tns or hoarder (or for a worker thread)
        self._positioned: asyncio.Event | None = None
        self._follower: asyncio.Task[None] | None = None
        self._moved = asyncio.Event()  # set (and replaced) whenever `position` moves

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread = threading.get_ident()

    def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()

    def scope(self, resource: Resource) -> FunctionData:
        return FunctionData(self, resource)

    def health(self) -> dict[str, Any]:
        return {
            "keyspaces": len(self.replicas),
            "position": self.position,
            "waits": self.waits,
            "held": sum(r.size for r in list(self.replicas.values())),
            "budget": self.budget,
            "evicted": self.evicted,
            "idle": self.idle,
            "evicted_idle": self.evicted_idle,
        }

    # -- from worker threads ---------------------------------------------------------------------------

    def off_loop(self) -> None:
        """Raise NeedsWorker on the loop (the call reruns on a worker) before work that would block it."""
        if threading.get_ident() == self._loop_thread:
            self.waits += 1
            raise family.NeedsWorker()

    def wait(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the substrate's loop and wait for it (from a host call's worker thread)."""
        self.waits += 1
        if threading.get_ident() == self._loop_thread:
            coro.close()
            raise family.NeedsWorker()  # the call reruns on a worker thread
        if self.loop is None:
            coro.close()
            raise DreamError("the substrate has not started")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT_TIMEOUT)

    # -- on the loop -----------------------------------------------------------------------------------

    async def open(self, resource: Resource, name: str, kind: str = "databases") -> Opened | None:
        """The keyspace `name` resolves to for a function, loaded here; None (logged) when none matches.
        `kind`: `databases` or `storages` (whose keyspaces hold their files' metadata)."""
        key = opened_key(resource, kind, name)
        if key in self.opened:
            opened = self.opened[key]
        else:
            if len(self.opened) >= NAMES_KEPT:
                self.opened.clear()
            opened = self.opened[key] = await self._resolve(resource, name, kind)
        if opened is not None:
            await self.replica(opened.space)
        return opened

    async def _project(self, resource: Resource) -> Any:
        key = (resource.project, resource.branch, resource.commit)
        found = self.projects.get(key)
        if found is None:
            path = tns_keys.project_prefix(resource.branch, resource.commit, resource.project)
            found = await self.sources.tns_fetch(path)
            if not isinstance(found, dict):
                found = {}
            self.projects[key] = found
            if len(self.projects) > PROJECTS_KEPT:
                self.projects.popitem(last=False)
        return found

    async def _resolve(self, resource: Resource, name: str, kind: str) -> Opened | None:
        project = await self._project(resource)
        opened, candidates = resolve(project, resource.project, resource.app, kind, name)
        if opened is None:
            what = kind[:-1]
            self.log.warning(
                "function `%s` of project %s asked for %s `%s`: no %s matches it (its %s: %s); "
                "add one under %s/ whose `match` is that name (or a regex with useRegex: true)",
                resource.name,
                resource.project,
                what,
                name,
                what,
                kind,
                describe(candidates),
                kind,
            )
        return opened

    async def replica(self, space: str) -> Replica:
        """The loaded replica of `space` (loading it first when needed)."""
        found = self.replicas.get(space)
        if found is not None and found.loaded:
            return found
        if found is None:
            found = self.replicas[space] = Replica()
            assert self.loop is not None
            found.ready = self.loop.create_future()
            self._background(self._load(space, found))
        assert found.ready is not None
        await asyncio.shield(found.ready)
        return found

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _load(self, space: str, replica: Replica) -> None:
        assert replica.ready is not None
        try:
            await self._following()
            snapshot = await self.hoarder.snapshot(space)
        except BaseException as exc:
            if self.replicas.get(space) is replica:
                del self.replicas[space]
            replica.ready.set_exception(exc if isinstance(exc, Exception) else DreamError(str(exc)))
            replica.ready.exception()  # retrieved: a caller may have gone
            return
        replica.base = snapshot["seq"]
        replica.entries = {k: (seq, b64decode(v)) for k, v, seq in snapshot["entries"]}
        replica.size = sum(_size(k, v) for k, (_, v) in replica.entries.items())
        replica.read = time.monotonic()
        replica.loaded = True
        for seq, key, value in replica.pending:
            replica.apply(seq, key, value)
        replica.pending.clear()
        replica.ready.set_result(None)
        self._evict(keep=space)

    async def _sweep_idle(self) -> None:
        """Drop the replicas not read for `idle` seconds (runs until the loop ends)."""
        while True:
            await asyncio.sleep(min(self.idle / 2, IDLE_SWEEP))
            now = time.monotonic()
            for space, replica in list(self.replicas.items()):
                if replica.loaded and now - replica.read > self.idle:
                    del self.replicas[space]
                    self.evicted_idle += 1
                    self.log.info(
                        "database replica %s dropped (%d bytes): not read for %gs (the `replica_idle` limit)",
                        space,
                        replica.size,
                        self.idle,
                    )

    def _evict(self, keep: str) -> None:
        """Drop the least recently read replicas (never `keep`, just loaded) until those held fit the
        budget; a dropped one is loaded again from hoarder when a function next reads it."""
        loaded = [(r.read, space, r) for space, r in self.replicas.items() if r.loaded and space != keep]
        kept = self.replicas.get(keep)
        held = sum(r.size for _, _, r in loaded) + (kept.size if kept is not None else 0)
        for _, space, replica in sorted(loaded, key=lambda t: t[0]):
            if held <= self.budget:
                break
            del self.replicas[space]
            held -= replica.size
            self.evicted += 1
            self.log.info(
                "database replica %s dropped (%d bytes): the replicas held passed the %d bytes of the "
                "`replicas` limit",
                space,
                replica.size,
                self.budget,
            )

    async def _following(self) -> None:
        """Start following hoarder's change log (once), and wait until its position is known: a replica
        loaded before that could miss the changes between its snapshot and the follower's start."""
        if self._positioned is None:
            self._positioned = asyncio.Event()
            self._follower = asyncio.ensure_future(self._follow())
            self._background(self._sweep_idle())
        await asyncio.wait_for(self._positioned.wait(), WAIT_TIMEOUT)

    async def _follow(self) -> None:
        assert self._positioned is not None
        seq = -1
        term = -1
        while True:
            try:
                if seq < 0:
                    start = await self.hoarder.changes(-1, wait=0, timeout=CHANGES_TIMEOUT)
                    seq, term = start["seq"], start["term"]
                    self.position = max(self.position, seq)
                    self._positioned.set()
                answer = await self.hoarder.changes(seq, wait=CHANGES_WAIT, timeout=CHANGES_TIMEOUT)
            except DreamError:
                await asyncio.sleep(RETRY)
                continue
            if answer["term"] != term:
                # Another hoarder took over: its log is numbered on from what it holds, which may
                # be short of this one's (unacknowledged writes were never read here, though);
                # follow it from its start and read what is held here afresh.
                self.log.warning("hoarder term %s → %s: following the new leader", term, answer["term"])
                self._drop()
                seq = -1
                continue
            if answer["seq"] < seq or (answer["first"] > seq + 1 and answer["changes"]):
                # Changes were dropped from the log before this substrate read them (or hoarder
                # lost its data): what is held here may be stale, so it is read afresh.
                self.log.warning("database change log skipped past seq %s: replicas dropped", seq)
                self._drop()
            for change_seq, space, key, value in answer["changes"]:
                replica = self.replicas.get(space)
                if replica is not None:
                    replica.apply(change_seq, key, None if value is None else b64decode(value))
            seq = self.position = answer["seq"]
            moved, self._moved = self._moved, asyncio.Event()
            moved.set()

    def _drop(self) -> None:
        for space, replica in list(self.replicas.items()):
            if replica.loaded:
                del self.replicas[space]

    async def put(self, opened: Opened, key: str, value: bytes) -> None:
        written = await self.hoarder.put(
            opened.space,
            key,
            value,
            **opened.put_options(),
        )
        replica = self.replicas.get(opened.space)
        if replica is not None:
            replica.apply(written["seq"], key, value)

    async def add_file(self, opened: Opened, name: str, kept: Path, overwrite: bool) -> int:
        """Add the file kept here at `kept` (sent to hoarder in chunks) as a version of `name`."""
        added = await self.hoarder.add_file(
            opened.space,
            name,
            kept,
            overwrite=overwrite,
            **opened.add_options(),
        )
        # The metadata reaches this replica through the change log; wait for it, so that the function
        # reads its own add (and the next request here does too).
        await self._caught_up(added["seq"])
        return added["version"]

    async def delete_file(self, opened: Opened, name: str, version: int) -> None:
        written = await self.hoarder.delete_file(opened.space, name, version, storage=opened.name)
        await self._caught_up(written["seq"])

    async def _caught_up(self, seq: int) -> None:
        """Wait (bounded) until the change log has been applied here up to `seq`."""
        async with asyncio.timeout(WAIT_TIMEOUT):
            while self.position < seq:
                await self._moved.wait()

    def keep_file(self, data: bytes | memoryview) -> Path:
        """Keep `data` here under its CID (written in chunks): where it is."""
        files = self.files or Path(tempfile.gettempdir()) / "dream-storage-files"
        spool = Spool(files)
        try:
            spool.write_all(data)
            kept = files / spool.cid
            spool.keep(kept)
        except BaseException:
            spool.close()
            raise
        return kept

    def keep_copy(self, source: Path, cid: str) -> None:
        """Keep a copy of the file `source` here as the bytes of `cid` (copied in chunks by the kernel)."""
        if self.files is None or not _CID.fullmatch(cid) or (self.files / cid).exists():
            return
        copy = self.files / f".{os.getpid()}.{cid}.tmp"
        try:
            shutil.copyfile(source, copy)
            copy.replace(self.files / cid)
        finally:
            copy.unlink(missing_ok=True)

    async def fetch_file(self, cid: str) -> Path:
        """Where the bytes of `cid` are kept here (fetched from hoarder in chunks the first time)."""
        if self.files is None or not _CID.fullmatch(cid):
            raise DreamError(f"{cid} is not a storage file's CID")
        kept = self.files / cid
        if not kept.exists():
            spool = Spool(self.files)
            try:
                if not await self.hoarder.fetch_blob(cid, spool):
                    raise DreamError(f"hoarder does not have the bytes of {cid}")
                if spool.cid != cid:
                    raise DreamError(f"hoarder sent bytes whose CID is {spool.cid} for {cid}")
                spool.keep(kept)
            except BaseException:
                spool.close()
                raise
        return kept

    async def delete(self, opened: Opened, key: str) -> None:
        written = await self.hoarder.delete(opened.space, key)
        replica = self.replicas.get(opened.space)
        if replica is not None:
            replica.apply(written["seq"], key, None)


class FunctionData:
    """The `DataScope` of one function (see `dream.wasm.database`): its databases, from worker threads."""

    def __init__(self, databases: Databases, resource: Resource) -> None:
        self.databases = databases
        self.resource = resource
        self.log = databases.log

    def _label(self) -> str:
        return f"function `{self.resource.name}` of project {self.resource.project}"

    def open_database(self, name: str) -> Opened | None:
        r = self.resource
        key = opened_key(r, "databases", name)
        if key in self.databases.opened:
            known = self.databases.opened[key]
            if known is None or self._loaded(known):
                return known  # resolved before and its replica is here: no round trip
        try:
            return self.databases.wait(self.databases.open(r, name))
        except (DreamError, TimeoutError) as exc:
            self.log.warning("%s could not open database `%s`: %s", self._label(), name, exc or "timed out")
            return None

    def open_globals(self) -> Opened | None:
        """The project's globals keyspace (no config needed: every project has one)."""
        r = self.resource
        opened = Opened(GLOBALS, globals_space(r.project), r.project, "", GLOBALS, DEFAULT_DATABASE_SIZE)
        if self._replica(opened) is None:
            return None
        return opened

    def globals_prefix(self, application: bool, function: bool) -> str:
        # As upstream: `/` + the application id and/or the function id the scope asks for.
        parts = [self.resource.app or "" if application else "", self.resource.id if function else ""]
        return "/" + "/".join(p for p in parts if p)

    def open_storage(self, name: str) -> Opened | None:
        r = self.resource
        key = opened_key(r, "storages", name)
        known = self.databases.opened.get(key, False)
        if known is None or (isinstance(known, Opened) and self._loaded(known)):
            return known
        try:
            return self.databases.wait(self.databases.open(r, name, "storages"))
        except (DreamError, TimeoutError) as exc:
            self.log.warning("%s could not open storage `%s`: %s", self._label(), name, exc or "timed out")
            return None

    def add_file(
        self, space: family.Keyspace, name: str, data: bytes | memoryview, overwrite: bool
    ) -> tuple[int, int]:
        assert isinstance(space, Opened)
        try:
            # Written here first (from the guest's memory, in chunks), then sent from the file: the
            # bytes are never copied whole.
            self.databases.off_loop()
            kept = self.databases.keep_file(data)
            return 0, self.databases.wait(self.databases.add_file(space, name, kept, overwrite))
        except DatabaseRefused as exc:
            self.log.warning(
                "%s: adding file `%s` (%d bytes) refused: %s", self._label(), name, len(data), exc.message
            )
        except (DreamError, TimeoutError, OSError) as exc:
            self.log.warning("%s: adding file `%s` failed: %s", self._label(), name, exc or "timed out")
        return 31, 0  # ErrorAddFileFailed

    def delete_file(self, space: family.Keyspace, name: str, version: int) -> int:
        assert isinstance(space, Opened)
        try:
            self.databases.wait(self.databases.delete_file(space, name, version))
        except DatabaseRefused as exc:
            self.log.warning("%s: deleting file `%s` refused: %s", self._label(), name, exc.message)
            return 33  # ErrorDeleteFileFailed
        except (DreamError, TimeoutError) as exc:
            self.log.warning("%s: deleting file `%s` failed: %s", self._label(), name, exc or "timed out")
            return 33
        return 0

    def open_file(self, space: family.Keyspace, cid: str) -> BinaryIO | None:
        assert isinstance(space, Opened)
        files = self.databases.files
        kept = files / cid if files is not None and _CID.fullmatch(cid) else None
        try:
            if kept is None or not kept.exists():
                kept = self.databases.wait(self.databases.fetch_file(cid))
            return open(kept, "rb")  # closed by the guest, or when the call ends
        except (DreamError, TimeoutError, OSError) as exc:
            self.log.warning("%s: reading %s of storage `%s` failed: %s", self._label(), cid, space.name, exc)
            return None

    def open_cid(self, cid: str) -> BinaryIO | None:
        try:
            return open(self.databases.wait(self.databases.fetch_file(cid)), "rb")
        except (DreamError, TimeoutError, OSError) as exc:
            self.log.info("%s: opening content %s failed: %s", self._label(), cid, exc)
            return None

    def content_directory(self) -> Path:
        return self.databases.files or Path(tempfile.gettempdir()) / "dream-storage-files"

    def push_content(self, source: Path) -> str | None:
        try:
            self.databases.off_loop()
            cid: str = self.databases.wait(self.databases.hoarder.stash(source))  # in pieces when large
            self.databases.keep_copy(source, cid)  # an open by this CID here reads it without a fetch
        except (DreamError, TimeoutError, OSError) as exc:
            self.log.warning("%s: pushing content %s failed: %s", self._label(), source.name, exc)
            return None
        return cid

    def _loaded(self, opened: Opened) -> bool:
        replica = self.databases.replicas.get(opened.space)
        return replica is not None and replica.loaded

    def _replica(self, opened: Opened) -> Replica | None:
        replica = self.databases.replicas.get(opened.space)
        if replica is not None and replica.loaded:
            replica.read = time.monotonic()
            return replica
        try:  # dropped since it was opened (hoarder's log skipped ahead): read it again
            return self.databases.wait(self.databases.replica(opened.space))
        except (DreamError, TimeoutError) as exc:
            self.log.warning(
                "%s could not read database `%s`: %s", self._label(), opened.name, exc or "timed out"
            )
            return None

    def get(self, space: family.Keyspace, key: str) -> bytes | None:
        assert isinstance(space, Opened)
        replica = self._replica(space)
        return None if replica is None else replica.value(key)

    def keys(self, space: family.Keyspace, prefix: str) -> list[str] | None:
        assert isinstance(space, Opened)
        replica = self._replica(space)
        return None if replica is None else replica.keys(prefix)

    def put(self, space: family.Keyspace, key: str, value: bytes) -> int:
        assert isinstance(space, Opened)
        try:
            self.databases.wait(self.databases.put(space, key, value))
        except DatabaseRefused as exc:
            self.log.warning(
                "%s: put of %d bytes at `%s` refused: %s", self._label(), len(value), key, exc.message
            )
            return family.DATABASE_PUT_FAILED
        except (DreamError, TimeoutError) as exc:
            self.log.warning("%s: put at `%s` failed: %s", self._label(), key, exc or "timed out")
            return family.DATABASE_PUT_FAILED
        return 0

    def delete(self, space: family.Keyspace, key: str) -> int:
        assert isinstance(space, Opened)
        try:
            self.databases.wait(self.databases.delete(space, key))
        except (DreamError, TimeoutError) as exc:
            self.log.warning("%s: delete of `%s` failed: %s", self._label(), key, exc or "timed out")
            return family.DATABASE_DELETE_FAILED
        return 0
