"""The TNS key/value store over the node's SQLite, with a change log readers can follow."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import re
from typing import Any

from dream.node.store import KVStore
from dream.tns.flat import SEP, flatten, normalize, rebuild

PREFIX = "/tns/v1/"
SEQ_KEY = "/tns/meta/seq"
CHANGE_PREFIX = "/tns/changes/"
# Readers only need recent changes to invalidate caches; older entries are dropped.
KEEP_CHANGES = 10_000


class TnsStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv
        self.seq = int(kv.get_json(SEQ_KEY) or 0)
        self._changed = asyncio.Condition()

    def push(self, path: str | list[str], data: Any) -> int:
        root = normalize(path)
        leaves = flatten(root, data)
        # A leaf replaces whatever map stood at its key, and a map replaces a leaf at its root.
        self.kv.delete(PREFIX + root)
        for key, _ in leaves:
            self.kv.delete_prefix(PREFIX + key + SEP)
        self.seq += 1
        items = [(PREFIX + key, json.dumps(value).encode()) for key, value in leaves]
        items.append((SEQ_KEY, str(self.seq).encode()))
        items.append((f"{CHANGE_PREFIX}{self.seq:012d}", root.encode()))
        self.kv.put_many(items)
        if self.seq > KEEP_CHANGES and self.seq % 1000 == 0:
            for key in self.kv.keys(CHANGE_PREFIX)[:-KEEP_CHANGES]:
                self.kv.delete(key)
        return self.seq

    def fetch(self, path: str | list[str]) -> Any:
        root = normalize(path)
        exact = self.kv.get(PREFIX + root)
        leaves = [(k[len(PREFIX) :], json.loads(v)) for k, v in self.kv.items(PREFIX + root + SEP)]
        if exact is not None:
            leaves.append((root, json.loads(exact)))
        return rebuild(root, leaves)

    def delete(self, path: str | list[str]) -> int:
        root = normalize(path)
        removed = int(self.kv.delete(PREFIX + root)) + self.kv.delete_prefix(PREFIX + root + SEP)
        if removed:
            self.seq += 1
            self.kv.put_many(
                [(SEQ_KEY, str(self.seq).encode()), (f"{CHANGE_PREFIX}{self.seq:012d}", root.encode())]
            )
        return removed

    def lookup(self, prefix: str | list[str], *, regex: bool = False) -> list[str]:
        """Leaf keys under `prefix` (or matching `prefix` as a regex over every key)."""
        if regex:
            pattern = re.compile(prefix if isinstance(prefix, str) else SEP.join(prefix))
            return [k[len(PREFIX) :] for k in self.kv.keys(PREFIX) if pattern.search(k[len(PREFIX) :])]
        root = normalize(prefix)
        keys = self.kv.keys(PREFIX + root + SEP)
        if self.kv.get(PREFIX + root) is not None:
            keys.insert(0, PREFIX + root)
        return [k[len(PREFIX) :] for k in keys]

    def list(self, depth: int) -> builtins.list[builtins.list[str]]:
        seen: dict[tuple[str, ...], None] = {}
        for key in self.kv.keys(PREFIX):
            seen[tuple(key[len(PREFIX) :].split(SEP)[:depth])] = None
        return [list(k) for k in seen]

    def changes(self, after: int) -> builtins.list[tuple[int, str]]:
        start = f"{CHANGE_PREFIX}{after + 1:012d}"
        return [
            (int(k[len(CHANGE_PREFIX) :]), v.decode()) for k, v in self.kv.items(CHANGE_PREFIX) if k >= start
        ]

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_change(self, after: int, timeout: float) -> None:
        if self.seq > after:
            return
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.seq > after), timeout)
