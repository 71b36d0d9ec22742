"""The key/value databases functions use (`database.New("/users")`), kept durably by hoarder.

One SQLite file in WAL mode (`databases.sqlite` under the hoarder's directory) holds every keyspace: a
keyspace is one matched database name of one project (and application), named by `space_id`. Each
write is one transaction that also appends to a change log; substrates follow that log (a long-poll,
`changes`) to keep their local replicas current, so a put through one substrate is read on another
as soon as the log reaches it. A write is acknowledged only once committed: a hoarder killed after
that keeps it (WAL with synchronous=NORMAL survives the death of the process).

A keyspace's `limit` (the database's `storage.size`) bounds the bytes of its keys and values; a put
that would pass it is refused before anything changes (`DatabaseFull`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from dream.clients.hoarder import DatabaseSpace
from dream.errors import DreamError
from dream.node.store import connect

# Entries of the change log kept; a replica further behind than this reloads what it holds.
CHANGES_KEPT = 10_000
# Changes one `changes` answer carries at most (the next call gets the rest).
CHANGES_PER_ANSWER = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (
    space TEXT PRIMARY KEY, project TEXT NOT NULL, app TEXT NOT NULL, name TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, size_limit INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS entries (
    space TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (space, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, space TEXT NOT NULL, key TEXT NOT NULL, value BLOB
);
"""


class DatabaseFull(DreamError):
    """A put would take a keyspace past its size limit; nothing was written."""


class StorageRefused(DreamError):
    """A storage file operation was refused (the storage is full, the file exists, no such version)."""


# Where a storage keeps its files' metadata in its keyspace, as upstream's storages do (the SDK's
# ListFiles parses `/file/<name>/<version>`).
FILE = "/file/"
SIZE = "/size/"
VERSION = "/version/"
EXPIRES = "/expires/"  # a streaming storage's file version → when it is removed (Unix time)
EXPIRES_END = EXPIRES[:-1] + chr(ord(EXPIRES[-1]) + 1)  # the first key past every EXPIRES one


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    space: str
    key: str
    value: bytes | None  # None: the key was deleted


class DatabaseStore:
    """Every keyspace of the universe's functions, in one SQLite file. Thread-safe (one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = connect(path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes --------------------------------------------------------------------------------------

    def put(
        self, space: str, key: str, value: bytes, *, project: str, app: str, name: str, limit: int
    ) -> int:
        """Store `value` at `key`; the write's sequence number. DatabaseFull past `limit` (0: no limit)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT used FROM spaces WHERE space = ?", (space,)).fetchone()
                used = row[0] if row else 0
                old = db.execute(
                    "SELECT length(value) FROM entries WHERE space = ? AND key = ?", (space, key)
                ).fetchone()
                key_bytes = len(key.encode())
                after = used - (old[0] + key_bytes if old else 0) + key_bytes + len(value)
                if limit and after > limit:
                    raise DatabaseFull(
                        f"database `{name}` of project {project} is full: this put needs {after} bytes of "
                        f"its {limit} (keys and values count); delete keys or raise `storage.size` in "
                        "the database's config"
                    )
                seq = self._log(space, key, value)
                db.execute(
                    "INSERT OR REPLACE INTO entries (space, key, value, seq) VALUES (?, ?, ?, ?)",
                    (space, key, value, seq),
                )
                db.execute(
                    "INSERT INTO spaces (space, project, app, name, used, size_limit) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(space) DO UPDATE SET used = excluded.used, "
                    "size_limit = excluded.size_limit",
                    (space, project, app, name, after, limit),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return seq

    def delete(self, space: str, key: str) -> int:
        """Remove `key` (nothing to do when absent); the sequence number of the store after it."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                old = db.execute(
                    "SELECT length(value) FROM entries WHERE space = ? AND key = ?", (space, key)
                ).fetchone()
                if old is None:
                    seq = self._seq()
                else:
                    seq = self._log(space, key, None)
                    db.execute("DELETE FROM entries WHERE space = ? AND key = ?", (space, key))
                    db.execute(
                        "UPDATE spaces SET used = used - ? WHERE space = ?",
                        (old[0] + len(key.encode()), space),
                    )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return seq

    # -- storages: files (bytes kept as blobs by CID) with versions, in a keyspace of metadata ---------

    def _set(self, space: str, key: str, value: bytes | None) -> None:
        seq = self._log(space, key, value)
        if value is None:
            self._db.execute("DELETE FROM entries WHERE space = ? AND key = ?", (space, key))
        else:
            self._db.execute(
                "INSERT OR REPLACE INTO entries (space, key, value, seq) VALUES (?, ?, ?, ?)",
                (space, key, value, seq),
            )

    def _value(self, space: str, key: str) -> bytes | None:
        row = self._db.execute(
            "SELECT value FROM entries WHERE space = ? AND key = ?", (space, key)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _versions(self, space: str, name: str) -> list[int]:
        prefix = f"{FILE}{name}/"
        rows = self._db.execute(
            "SELECT key FROM entries WHERE space = ? AND substr(key, 1, ?) = ?", (space, len(prefix), prefix)
        ).fetchall()
        found = [r[0][len(prefix) :] for r in rows]
        return sorted(int(v) for v in found if v.isdigit())

    def _used(self, space: str) -> int:
        rows = self._db.execute(
            "SELECT value FROM entries WHERE space = ? AND substr(key, 1, ?) = ?", (space, len(SIZE), SIZE)
        ).fetchall()
        return sum(int(bytes(r[0]) or b"0") for r in rows)

    def add_file(
        self,
        space: str,
        name: str,
        cid: str,
        size: int,
        *,
        overwrite: bool,
        versioning: bool,
        capacity: int,
        project: str,
        app: str,
        storage: str,
        expires: float = 0.0,
    ) -> tuple[int, int]:
        """Record `cid` (`size` bytes) as a version of file `name`: (its version, the change's seq).

        As upstream: without versioning every file has version 1; with it, a new version is the latest
        + 1, or the latest itself when `overwrite`. A version that exists is replaced only with
        `overwrite`. StorageRefused past `capacity` (the files' bytes) or when the file exists. With
        `expires` (a Unix time), the version is listed by `expired` from then on."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                latest = self._value(space, f"{VERSION}{name}")
                version = 1
                if versioning and latest is not None:
                    version = int(latest) + (0 if overwrite else 1)
                old = self._value(space, f"{SIZE}{name}/{version}")
                if old is not None and not overwrite:
                    raise StorageRefused(
                        f"file `{name}` of storage `{storage}` exists (version {version}); add it with "
                        "overwrite, or turn `object.versioning` on to keep each add as a new version"
                    )
                used = self._used(space) - (int(old) if old else 0)
                if capacity and used + size > capacity:
                    raise StorageRefused(
                        f"storage `{storage}` of project {project} is full: adding {size} bytes to the "
                        f"{used} it holds passes its {capacity}; delete files or raise `object.size` in the "
                        "storage's config"
                    )
                self._set(space, f"{FILE}{name}/{version}", cid.encode())
                self._set(space, f"{SIZE}{name}/{version}", str(size).encode())
                if expires:
                    self._set(space, f"{EXPIRES}{name}/{version}", repr(expires).encode())
                self._set(space, f"{VERSION}{name}", str(max(version, int(latest or 0))).encode())
                seq = self._seq()
                db.execute(
                    "INSERT INTO spaces (space, project, app, name, used, size_limit) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(space) DO UPDATE SET used = excluded.used, size_limit = excluded.size_limit",
                    (space, project, app, storage, used + size, capacity),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return version, seq

    def delete_file(self, space: str, name: str, version: int, *, storage: str) -> int:
        """Forget version `version` of file `name` (0: the latest, -1: every version); the change's seq.
        StorageRefused when there is no such file or version. The bytes stay among hoarder's blobs
        (a CID may be shared); they no longer count against the storage's size."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                versions = self._versions(space, name)
                if version < -1:
                    raise StorageRefused(
                        f"version {version} is not a version: use 1 or more, 0 (the latest) or all"
                    )
                if not versions:
                    raise StorageRefused(f"storage `{storage}` has no file `{name}`")
                doomed = versions if version == -1 else [versions[-1] if version == 0 else version]
                if doomed[0] not in versions:
                    listed = ", ".join(map(str, versions))
                    raise StorageRefused(
                        f"file `{name}` of storage `{storage}` has no version {version} (it has {listed})"
                    )
                for v in doomed:
                    self._set(space, f"{FILE}{name}/{v}", None)
                    self._set(space, f"{SIZE}{name}/{v}", None)
                    if self._value(space, f"{EXPIRES}{name}/{v}") is not None:
                        self._set(space, f"{EXPIRES}{name}/{v}", None)
                left = [v for v in versions if v not in doomed]
                self._set(space, f"{VERSION}{name}", str(left[-1]).encode() if left else None)
                seq = self._seq()
                db.execute("UPDATE spaces SET used = ? WHERE space = ?", (self._used(space), space))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return seq

    # -- a standby's copy (another hoarder's changes, applied with their sequence numbers) --------------

    def apply(self, changes: list[Change]) -> None:
        """Apply changes read from the home hoarder's log, keeping their sequence numbers (a change at or
        before what a key already holds is skipped, so applying twice changes nothing)."""
        if not changes:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                touched = set()
                for c in changes:
                    db.execute(
                        "INSERT OR IGNORE INTO changes (seq, space, key, value) VALUES (?, ?, ?, ?)",
                        (c.seq, c.space, c.key, c.value),
                    )
                    row = db.execute(
                        "SELECT seq FROM entries WHERE space = ? AND key = ?", (c.space, c.key)
                    ).fetchone()
                    if row is not None and row[0] >= c.seq:
                        continue
                    if c.value is None:
                        db.execute("DELETE FROM entries WHERE space = ? AND key = ?", (c.space, c.key))
                    else:
                        db.execute(
                            "INSERT OR REPLACE INTO entries (space, key, value, seq) VALUES (?, ?, ?, ?)",
                            (c.space, c.key, c.value, c.seq),
                        )
                    touched.add(c.space)
                for space in touched:
                    self._recount(space)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def reset(self) -> None:
        """Forget every keyspace and the change log (before copying another hoarder's whole)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for table in ("entries", "spaces", "changes"):
                    db.execute(f"DELETE FROM {table}")
                db.execute("DELETE FROM sqlite_sequence WHERE name = 'changes'")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def replace_space(self, space: str, rows: list[tuple[str, bytes, int]], seq: int) -> None:
        """Make `space` hold exactly `rows` ((key, value, seq)) as of the home's `seq` (a resync)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM entries WHERE space = ?", (space,))
                db.executemany(
                    "INSERT INTO entries (space, key, value, seq) VALUES (?, ?, ?, ?)",
                    [(space, k, v, s) for k, v, s in rows],
                )
                self._recount(space)
                self._advance(seq)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def advance(self, seq: int) -> None:
        """Number the next change after `seq` at least (a copy made as of another hoarder's `seq`)."""
        with self._lock:
            self._advance(seq)

    def _advance(self, seq: int) -> None:
        # sqlite_sequence has no key on `name`: update its row, or add it when there is none yet.
        if self._db.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'changes'").fetchone():
            self._db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'changes'", (seq,))
        else:
            self._db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)", (seq,))

    def _recount(self, space: str) -> None:
        """The `spaces` row of a space copied from the home: who it belongs to (from its id) and its use."""
        parts = space.split("/", 2)
        if len(parts) == 3:  # `<project>/<app or ->/<kind>:<name>` (clients.hoarder.space_id)
            project, app, rest = parts
            kind, _, name = rest.partition(":")
        else:  # `<project>/globals`
            project, app, kind, name = parts[0], "", "", parts[-1]
        if kind == "storage":
            used = self._used(space)
        else:
            row = self._db.execute(
                "SELECT coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0) FROM entries WHERE space = ?",
                (space,),
            ).fetchone()
            used = int(row[0])
        self._db.execute(
            "INSERT INTO spaces (space, project, app, name, used) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(space) DO UPDATE SET used = excluded.used",
            (space, project, "" if app == "-" else app, name or rest, used),
        )

    def _log(self, space: str, key: str, value: bytes | None) -> int:
        cursor = self._db.execute(
            "INSERT INTO changes (space, key, value) VALUES (?, ?, ?)", (space, key, value)
        )
        seq = int(cursor.lastrowid or 0)
        if seq % 1000 == 0:  # trim now and then, not on every write
            self._db.execute("DELETE FROM changes WHERE seq <= ?", (seq - CHANGES_KEPT,))
        return seq

    def _seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return int(row[0]) if row else 0

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, space: str, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM entries WHERE space = ? AND key = ?", (space, key)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def keys(self, space: str, prefix: str = "") -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key FROM entries WHERE space = ? AND substr(key, 1, ?) = ? ORDER BY key",
                (space, len(prefix), prefix),
            ).fetchall()
        return [r[0] for r in rows]

    def snapshot(self, space: str) -> tuple[int, list[tuple[str, bytes, int]]]:
        """(the store's sequence number, every (key, value, seq) of `space`), read at one moment."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                seq = self._seq()
                rows = self._db.execute(
                    "SELECT key, value, seq FROM entries WHERE space = ?", (space,)
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        return seq, [(k, bytes(v), s) for k, v, s in rows]

    def changes(self, after: int, upto: int | None = None) -> tuple[int, int, list[Change]]:
        """(the store's sequence number, the oldest change still logged, changes after `after`), only
        those up to `upto` when given (and the sequence number no further)."""
        with self._lock:
            seq = self._seq() if upto is None else min(self._seq(), upto)
            first = self._db.execute("SELECT min(seq) FROM changes").fetchone()[0]
            rows = self._db.execute(
                "SELECT seq, space, key, value FROM changes WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, seq, CHANGES_PER_ANSWER),
            ).fetchall()
        found = [Change(s, sp, k, None if v is None else bytes(v)) for s, sp, k, v in rows]
        return seq, int(first if first is not None else seq + 1), found

    def expired(self, now: float) -> list[tuple[str, str, int]]:
        """(space, file name, version) of every streaming storage's file whose time ran out by `now`."""
        with self._lock:
            # A range of each keyspace's primary key: the leader runs this every second, and a scan of
            # every entry cost 13 ms of CPU per 100,000 of them.
            rows = self._db.execute(
                "SELECT e.space, e.key FROM spaces s CROSS JOIN entries e ON e.space = s.space "
                "AND e.key >= ? AND e.key < ? WHERE CAST(e.value AS REAL) <= ?",
                (EXPIRES, EXPIRES_END, now),
            ).fetchall()
        found = []
        for space, key in rows:
            name, _, version = key[len(EXPIRES) :].rpartition("/")
            if name and version.isdigit():
                found.append((space, name, int(version)))
        return found

    def seq(self) -> int:
        with self._lock:
            return self._seq()

    def spaces(self, project: str = "") -> list[DatabaseSpace]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.space, s.project, s.app, s.name, s.used, s.size_limit, "
                "(SELECT count(*) FROM entries e WHERE e.space = s.space) FROM spaces s "
                "WHERE ? = '' OR s.project = ? ORDER BY s.project, s.app, s.name",
                (project, project),
            ).fetchall()
        keys = ("space", "project", "app", "name", "used", "limit", "keys")
        return [DatabaseSpace(**dict(zip(keys, row, strict=True))) for row in rows]  # type: ignore[typeddict-item]
