"""Bare repositories on disk (`<root>/<owner>/<name>.git`) and their metadata in SQLite.

Metadata mirrors what GitHub exposes: numeric 9-digit ids (random, unique, stored so they stay
stable), owners with ids, webhooks with secrets, and a record of every webhook delivery.
"""

from __future__ import annotations

import builtins  # `RepositoryStore.list` shadows the builtin inside the class body
import json
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dream.errors import DreamError
from dream.provider.gitcli import GitFailed, git, refs

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# Owners are stricter (no dots, like GitHub logins), which also keeps them off `provider.db*` and
# `.hooks` in the root; `api` is taken by the REST routes.
OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$")
RESERVED_OWNERS = {"api"}
ID_LOW, ID_HIGH = 100_000_000, 999_999_999
DEFAULT_BRANCH = "main"

SCHEMA = """
CREATE TABLE IF NOT EXISTS owners (
    login TEXT PRIMARY KEY COLLATE NOCASE,
    id INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS repositories (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL COLLATE NOCASE,
    name TEXT NOT NULL COLLATE NOCASE,
    private INTEGER NOT NULL DEFAULT 0,
    default_branch TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    pushed_at INTEGER,
    UNIQUE (owner, name)
);
CREATE TABLE IF NOT EXISTS hooks (
    id INTEGER PRIMARY KEY,
    repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT 'json',
    events TEXT NOT NULL DEFAULT '["push"]',
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL UNIQUE,
    repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    hook_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    ref TEXT,
    after TEXT,
    url TEXT NOT NULL,
    status_code INTEGER,
    duration_ms REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    delivered_at REAL NOT NULL
);
"""


class ProviderError(DreamError):
    """A provider operation that cannot be done; the message says what and how to fix it."""


@dataclass(frozen=True)
class Repository:
    id: int
    owner: str
    name: str
    owner_id: int
    path: Path
    private: bool = False
    default_branch: str = DEFAULT_BRANCH
    created_at: int = 0
    pushed_at: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def clone_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.full_name}.git"

    def html_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.full_name}"


@dataclass(frozen=True)
class Hook:
    id: int
    repo_id: int
    url: str
    secret: str
    content_type: str = "json"
    events: list[str] = field(default_factory=lambda: ["push"])
    active: bool = True
    created_at: int = 0


@dataclass(frozen=True)
class Delivery:
    id: int
    guid: str
    repo_id: int
    hook_id: int
    event: str
    ref: str | None
    after: str | None
    url: str
    status_code: int | None
    duration_ms: float | None
    attempts: int
    error: str | None
    delivered_at: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _check_owner(value: str) -> None:
    if not OWNER.match(value) or value.lower() in RESERVED_OWNERS:
        raise ProviderError(
            f"`{value}` is not a valid owner: use 1-39 letters, digits, `-` or `_`, starting with a "
            f"letter or digit, and not one of {sorted(RESERVED_OWNERS)}"
        )


def _check_name(kind: str, value: str) -> None:
    if not NAME.match(value) or value.startswith(".") or value.lower().endswith(".git"):
        raise ProviderError(
            f"`{value}` is not a valid {kind}: use 1-100 letters, digits, `-`, `_` or `.`, "
            "not starting with `.` and not ending in `.git`"
        )


class RepositoryStore:
    """Repositories under `root`, metadata in `root/provider.db`. Safe to share between threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.root / "provider.db", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- repositories --------------------------------------------------------------------------

    def path_of(self, owner: str, name: str) -> Path:
        return self.root / owner / f"{name}.git"

    def _repo(self, row: sqlite3.Row) -> Repository:
        return Repository(
            id=row["id"],
            owner=row["owner"],
            name=row["name"],
            owner_id=row["owner_id"],
            path=self.path_of(row["owner"], row["name"]),
            private=bool(row["private"]),
            default_branch=row["default_branch"],
            created_at=row["created_at"],
            pushed_at=row["pushed_at"],
        )

    _SELECT = "SELECT r.*, o.id AS owner_id FROM repositories r JOIN owners o ON o.login = r.owner"

    @staticmethod
    def _new_id(db: sqlite3.Connection, table: str) -> int:
        while True:
            candidate = ID_LOW + secrets.randbelow(ID_HIGH - ID_LOW + 1)
            if not db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (candidate,)).fetchone():
                return candidate

    def _owner_id(self, db: sqlite3.Connection, login: str) -> int:
        row = db.execute("SELECT id FROM owners WHERE login = ?", (login,)).fetchone()
        if row:
            return int(row["id"])
        new = self._new_id(db, "owners")
        db.execute("INSERT INTO owners (login, id) VALUES (?, ?)", (login, new))
        return new

    def create(
        self,
        owner: str,
        name: str,
        *,
        private: bool = False,
        repo_id: int | None = None,
        default_branch: str = DEFAULT_BRANCH,
    ) -> Repository:
        """A new empty bare repository. `repo_id` forces an id (fixtures with GitHub's known ids)."""
        _check_owner(owner)
        _check_name("repository name", name)
        if repo_id is not None and not (0 < repo_id < 2**53):
            raise ProviderError(f"repository id {repo_id} is out of range; give a positive integer")
        path = self.path_of(owner, name)
        with self._tx() as db:
            existing = db.execute(
                "SELECT owner, name FROM repositories WHERE owner = ? AND name = ?", (owner, name)
            ).fetchone()
            if existing:
                raise ProviderError(
                    f"repository {existing['owner']}/{existing['name']} already exists "
                    "(names ignore case, like GitHub's); pick another name or delete it first"
                )
            if (
                repo_id is not None
                and db.execute("SELECT 1 FROM repositories WHERE id = ?", (repo_id,)).fetchone()
            ):
                raise ProviderError(f"repository id {repo_id} is already used by another repository")
            if path.exists():
                raise ProviderError(
                    f"{path} already exists but is not a known repository; remove it or pick another name"
                )
            new_id = repo_id if repo_id is not None else self._new_id(db, "repositories")
            self._owner_id(db, owner)
            db.execute(
                "INSERT INTO repositories (id, owner, name, private, default_branch, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (new_id, owner, name, int(private), default_branch, int(time.time())),
            )
            # The bare repository is made inside the transaction: if git fails, the row goes too.
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                git("init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path))
            except GitFailed as error:
                shutil.rmtree(path, ignore_errors=True)
                raise ProviderError(f"could not create repository {owner}/{name}: {error}") from error
        repo = self.get(new_id)
        assert repo is not None
        return repo

    def import_path(self, owner: str, name: str, source: Path, *, private: bool = False) -> Repository:
        """A new repository holding every branch and tag of the local repository at `source`.

        The default branch follows `source`'s current branch when it has one.
        """
        source = Path(source)
        probe = git("-C", str(source), "rev-parse", "--git-dir", check=False)
        if probe.returncode != 0:
            raise ProviderError(
                f"{source} is not a git repository; run `git init` there or pass another path"
            )
        head = git(
            "-C", str(source), "symbolic-ref", "--quiet", "--short", "HEAD", check=False
        ).stdout.strip()
        repo = self.create(owner, name, private=private)
        try:
            git("-C", str(source), "push", "--quiet", str(repo.path), "refs/heads/*:refs/heads/*")
            git("-C", str(source), "push", "--quiet", str(repo.path), "refs/tags/*:refs/tags/*")
        except GitFailed as error:
            self.delete(repo.id)
            raise ProviderError(f"could not import {source} as {owner}/{name}: {error}") from error
        if head and f"refs/heads/{head}" in refs(repo.path) and head != repo.default_branch:
            git("--git-dir", str(repo.path), "symbolic-ref", "HEAD", f"refs/heads/{head}")
            with self._tx() as db:
                db.execute("UPDATE repositories SET default_branch = ? WHERE id = ?", (head, repo.id))
        updated = self.get(repo.id)
        assert updated is not None
        return updated

    def get(self, repo_id: int) -> Repository | None:
        rows = self._query(f"{self._SELECT} WHERE r.id = ?", (int(repo_id),))
        return self._repo(rows[0]) if rows else None

    def get_by_name(self, full_name: str) -> Repository | None:
        owner, _, name = full_name.strip("/").partition("/")
        name = name.removesuffix(".git")
        rows = self._query(f"{self._SELECT} WHERE r.owner = ? AND r.name = ?", (owner, name))
        return self._repo(rows[0]) if rows else None

    def list(self) -> list[Repository]:
        return [self._repo(row) for row in self._query(f"{self._SELECT} ORDER BY r.owner, r.name")]

    def require(self, repo_id: int) -> Repository:
        repo = self.get(repo_id)
        if repo is None:
            raise ProviderError(f"no repository has id {repo_id}; list them with `RepositoryStore.list()`")
        return repo

    def delete(self, repo_id: int) -> None:
        repo = self.require(repo_id)
        with self._tx() as db:
            db.execute("DELETE FROM repositories WHERE id = ?", (repo.id,))
        shutil.rmtree(repo.path, ignore_errors=True)

    def mark_pushed(self, repo_id: int, pushed_at: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE repositories SET pushed_at = ? WHERE id = ?", (pushed_at, repo_id))

    def refs(self, repo_id: int) -> dict[str, str]:
        """Every ref of the repository (`refs/heads/main` → sha)."""
        return refs(self.require(repo_id).path)

    # -- webhooks ------------------------------------------------------------------------------

    @staticmethod
    def _hook(row: sqlite3.Row) -> Hook:
        return Hook(
            id=row["id"],
            repo_id=row["repo_id"],
            url=row["url"],
            secret=row["secret"],
            content_type=row["content_type"],
            events=json.loads(row["events"]),
            active=bool(row["active"]),
            created_at=row["created_at"],
        )

    def add_hook(
        self,
        repo_id: int,
        url: str,
        secret: str,
        *,
        content_type: str = "json",
        events: tuple[str, ...] = ("push",),
    ) -> Hook:
        repo = self.require(repo_id)
        if not url.startswith(("http://", "https://")):
            raise ProviderError(f"webhook URL `{url}` must start with http:// or https://")
        if content_type not in ("json", "form"):
            raise ProviderError(
                f"webhook content type `{content_type}` is not supported; use `json` or `form`"
            )
        with self._tx() as db:
            hook_id = self._new_id(db, "hooks")
            db.execute(
                "INSERT INTO hooks (id, repo_id, url, secret, content_type, events, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (hook_id, repo.id, url, secret, content_type, json.dumps(list(events)), int(time.time())),
            )
        return self.hook(hook_id)

    def hook(self, hook_id: int) -> Hook:
        rows = self._query("SELECT * FROM hooks WHERE id = ?", (int(hook_id),))
        if not rows:
            raise ProviderError(
                f"no webhook has id {hook_id}; list a repository's hooks with `hooks(repo_id)`"
            )
        return self._hook(rows[0])

    def hooks(self, repo_id: int) -> builtins.list[Hook]:
        return [
            self._hook(r)
            for r in self._query("SELECT * FROM hooks WHERE repo_id = ? ORDER BY id", (repo_id,))
        ]

    def remove_hook(self, repo_id: int, hook_id: int) -> None:
        with self._tx() as db:
            gone = db.execute("DELETE FROM hooks WHERE id = ? AND repo_id = ?", (hook_id, repo_id)).rowcount
        if not gone:
            raise ProviderError(f"repository {repo_id} has no webhook {hook_id}; nothing was removed")

    # -- deliveries ----------------------------------------------------------------------------

    def record_delivery(
        self,
        *,
        guid: str,
        hook: Hook,
        event: str,
        ref: str | None,
        after: str | None,
        status_code: int | None,
        duration_ms: float,
        attempts: int,
        error: str | None,
    ) -> None:
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM repositories WHERE id = ?", (hook.repo_id,)).fetchone():
                return  # the repository was deleted while the delivery was in flight
            db.execute(
                "INSERT INTO deliveries (guid, repo_id, hook_id, event, ref, after, url, status_code, "
                "duration_ms, attempts, error, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    guid,
                    hook.repo_id,
                    hook.id,
                    event,
                    ref,
                    after,
                    hook.url,
                    status_code,
                    duration_ms,
                    attempts,
                    error,
                    time.time(),
                ),
            )

    def deliveries(self, repo_id: int) -> builtins.list[Delivery]:
        rows = self._query("SELECT * FROM deliveries WHERE repo_id = ? ORDER BY id", (repo_id,))
        return [Delivery(**{key: row[key] for key in row.keys()}) for row in rows]  # noqa: SIM118
