"""A node's durable key/value state: one SQLite file in WAL mode under the node's root."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` (made with its folder when new): WAL, synchronous=NORMAL
    (a commit survives the death of the process), autocommit, shared by threads under the caller's lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class KVStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", items)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def delete(self, key: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
        return cursor.rowcount > 0

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            cursor = self._db.execute("DELETE FROM kv WHERE key >= ? AND key < ?", (prefix, _after(prefix)))
        return cursor.rowcount

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key", (prefix, _after(prefix))
            ).fetchall()
        return [r[0] for r in rows]

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key", (prefix, _after(prefix))
            ).fetchall()
        for key, value in rows:
            yield key, bytes(value)

    def get_json(self, key: str) -> Any:
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, json.dumps(value, separators=(",", ":")).encode())

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _after(prefix: str) -> str:
    # Smallest string greater than every string starting with `prefix`.
    return prefix + "\U0010ffff"
