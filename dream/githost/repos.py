"""Bare repositories and their metadata (numeric ids like GitHub's, webhooks, deliveries)."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from dream import gitrun
from dream.errors import DreamError
from dream.node.store import KVStore

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
GIT_TIMEOUT = 60
ZERO = "0" * 40


def git(*args: str, cwd: Path | None = None) -> str:
    """`git <args>` (GitPython) with none of the user's git setup; a failure raises with git's message."""
    result = gitrun.run(args, cwd=cwd, env=gitrun.ISOLATED_ENV, timeout=GIT_TIMEOUT)
    if result.status != 0:
        raise DreamError(f"git {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def rebase(url: str, moves: dict[str, str]) -> str:
    """`url` with its base (`http://127.0.0.1:<port>`) replaced when that base moved (a kept universe
    that came back on other ports)."""
    for old, new in moves.items():
        if url == old or url.startswith(old + "/"):
            return new + url[len(old) :]
    return url


class Repositories:
    def __init__(self, kv: KVStore, root: Path, base_url: str) -> None:
        self.kv = kv
        self.root = root
        self.base_url = base_url

    def path(self, owner: str, name: str) -> Path:
        return self.root / owner / f"{name}.git"

    def view(self, record: dict[str, Any]) -> dict[str, Any]:
        full = f"{record['owner']}/{record['name']}"
        return {
            **record,
            "full_name": full,
            "clone_url": f"{self.base_url}/{full}.git",
            "html_url": f"{self.base_url}/{full}",
        }

    def create(self, owner: str, name: str, *, private: bool = False) -> dict[str, Any]:
        for part in (owner, name):
            if not NAME.match(part) or part.startswith("."):
                raise DreamError(f"`{part}` is not a valid repository owner or name (letters, digits, - _ .)")
        if self.get_by_name(owner, name):
            raise DreamError(f"repository {owner}/{name} already exists")
        path = self.path(owner, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
        with gitrun.repository(path, "git config") as repo, repo.config_writer() as config:
            config.set_value("http", "receivepack", "true")  # pushes over smart HTTP
        while True:
            repo_id = secrets.randbelow(900_000_000) + 100_000_000
            if self.kv.get_json(f"/repos/{repo_id}") is None:
                break
        record = {
            "id": repo_id,
            "owner": owner,
            "name": name,
            "private": private,
            "default_branch": "main",
            "created_at": int(time.time()),
        }
        self.kv.put_json(f"/repos/{repo_id}", record)
        self.kv.put_json(f"/names/{owner}/{name}", repo_id)
        return self.view(record)

    def get(self, repo_id: int | str) -> dict[str, Any] | None:
        record = self.kv.get_json(f"/repos/{repo_id}")
        return self.view(record) if record else None

    def get_by_name(self, owner: str, name: str) -> dict[str, Any] | None:
        repo_id = self.kv.get_json(f"/names/{owner}/{name}")
        return self.get(repo_id) if repo_id is not None else None

    def all(self) -> list[dict[str, Any]]:
        return [self.view(r) for r in (self.kv.get_json(k) for k in self.kv.keys("/repos/")) if r]

    # -- hooks ---------------------------------------------------------------------------------------

    def add_hook(self, repo_id: int, url: str, secret: str) -> dict[str, Any]:
        hook = {
            "id": secrets.randbelow(900_000_000) + 100_000_000,
            "url": url,
            "secret": secret,
            "events": ["push"],
        }
        self.kv.put_json(f"/hooks/{repo_id}/{hook['id']}", hook)
        return hook

    def hooks(self, repo_id: int) -> list[dict[str, Any]]:
        return [h for h in (self.kv.get_json(k) for k in self.kv.keys(f"/hooks/{repo_id}/")) if h]

    def hook(self, repo_id: int, hook_id: int) -> dict[str, Any] | None:
        return self.kv.get_json(f"/hooks/{repo_id}/{hook_id}")

    def move_hooks(self, moves: dict[str, str]) -> int:
        """Point every hook whose URL starts with an old base (`http://127.0.0.1:<port>`) at the new one."""
        count = 0
        for key in self.kv.keys("/hooks/"):
            hook = self.kv.get_json(key)
            if hook and (url := rebase(str(hook["url"]), moves)) != hook["url"]:
                self.kv.put_json(key, {**hook, "url": url})
                count += 1
        return count

    # -- deliveries ----------------------------------------------------------------------------------
    # A delivery is a record under /deliveries/<repo>/<time> (what the deliveries list shows, updated
    # after each attempt) and, while it may be tried again, its body under /pending/<repo>/<time>.

    def start_delivery(self, repo_id: int, delivery: dict[str, Any], body: bytes) -> str:
        stamp = f"{time.time():020.6f}"
        self.kv.put_json(f"/pending/{repo_id}/{stamp}", {"body": body.decode()})
        self.kv.put_json(f"/deliveries/{repo_id}/{stamp}", delivery)
        return f"{repo_id}/{stamp}"

    def update_delivery(self, key: str, delivery: dict[str, Any], *, final: bool) -> None:
        self.kv.put_json(f"/deliveries/{key}", delivery)
        if final:
            self.kv.delete(f"/pending/{key}")

    def pending_deliveries(self) -> list[tuple[str, dict[str, Any], bytes]]:
        """Deliveries a previous run of the node had not finished: (key, record, body)."""
        found = []
        for path in self.kv.keys("/pending/"):
            key = path.removeprefix("/pending/")
            pending, record = self.kv.get_json(path), self.kv.get_json(f"/deliveries/{key}")
            if pending and record:
                found.append((key, record, str(pending["body"]).encode()))
            else:
                self.kv.delete(path)
        return found

    def deliveries(self, repo_id: int) -> list[dict[str, Any]]:
        return [d for d in (self.kv.get_json(k) for k in self.kv.keys(f"/deliveries/{repo_id}/")) if d]

    # -- refs and commits ----------------------------------------------------------------------------

    def refs(self, owner: str, name: str) -> dict[str, str]:
        """Each branch (`refs/heads/...`) and its commit, read by GitPython from the repository's files."""
        git_ = gitrun.gitpython()
        with gitrun.repository(self.path(owner, name), "git for-each-ref") as repo:
            return {
                head.path: git_.SymbolicReference.dereference_recursive(repo, head.path)
                for head in repo.heads
            }

    def commits(self, owner: str, name: str, before: str, after: str, url: str) -> list[dict[str, Any]]:
        """Commits between two shas, oldest first (the last 20), in GitHub's payload shape."""
        span = after if before in ("", ZERO) else f"{before}..{after}"
        path = self.path(owner, name)
        with gitrun.repository(path, "git log") as repo:
            repo.git.update_environment(**gitrun.ISOLATED_ENV)
            found = list(repo.iter_commits(span, max_count=20))
            found.reverse()
            return [self._payload_commit(commit, url, path) for commit in found]

    def _payload_commit(self, commit: Any, url: str, path: Path) -> dict[str, Any]:
        # Files by change as `git diff-tree --name-status` sees them (GitPython's own diff detects renames,
        # which GitHub's payload does not show).
        changed = git("diff-tree", "--no-commit-id", "--name-status", "-r", "--root", commit.hexsha, cwd=path)
        by_status: dict[str, list[str]] = {"A": [], "D": [], "M": []}
        for row in changed.splitlines():
            status, _, file = row.partition("\t")
            by_status.setdefault(status[:1], []).append(file)
        author, committer = commit.author, commit.committer
        return {
            "id": commit.hexsha,
            "tree_id": commit.tree.hexsha,
            "message": str(commit.message).strip(),
            "timestamp": commit.committed_datetime.isoformat(),
            "url": f"{url}/commit/{commit.hexsha}",
            "author": {"name": author.name, "email": author.email, "username": author.name},
            "committer": {"name": committer.name, "email": committer.email, "username": committer.name},
            "added": by_status["A"],
            "removed": by_status["D"],
            "modified": by_status["M"],
        }
