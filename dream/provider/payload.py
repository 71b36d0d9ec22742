"""GitHub `push` event payloads and their HMAC signatures.

`verify_signature` is standalone on purpose: webhook receivers (patrick) import it without the rest
of the provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dream.provider.store import Repository

ZERO = "0" * 40
DEFAULT_BASE_URL = "http://127.0.0.1"


def sign(body: bytes, secret: str) -> dict[str, str]:
    """The two signature headers GitHub sends: HMAC-SHA1 (legacy) and HMAC-SHA256 of the raw body."""
    key = secret.encode()
    return {
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
    }


def verify_signature(body: bytes, secret: str, headers: Mapping[str, str]) -> bool:
    """True when the body was signed with `secret`.

    SHA-256 is checked when the sender provided one; otherwise SHA-1 (upstream's dream fixtures send
    an empty `X-Hub-Signature-256` and only a SHA-1 signature). A present but wrong SHA-256 never falls
    back to SHA-1. Comparisons are constant-time.
    """
    lower = {key.lower(): value for key, value in headers.items()}
    key = secret.encode()
    sha256 = lower.get("x-hub-signature-256", "").strip()
    if sha256 not in ("", "sha256="):
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(sha256.encode(), expected.encode())
    sha1 = lower.get("x-hub-signature", "").strip()
    if sha1 not in ("", "sha1="):
        expected = "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
        return hmac.compare_digest(sha1.encode(), expected.encode())
    return False


def node_id(kind: str, number: int) -> str:
    """GitHub's legacy global node id: base64 of `010:<Kind><id>` (what older payloads carry)."""
    return base64.b64encode(f"010:{kind}{number}".encode()).decode()


def user_id(login: str) -> int:
    """A stable stand-in account id for a login the provider has no record of."""
    return 10_000_000 + zlib.crc32(login.encode()) % 90_000_000


def _short(sha: str) -> str:
    return sha[:12]


def repository_json(repo: Repository, base_url: str, pushed_at: int | None) -> dict[str, Any]:
    """The `repository` object of a push event (created_at/pushed_at are unix ints there, unlike REST)."""
    clone_url = repo.clone_url(base_url)
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": {
            "name": repo.owner,
            "login": repo.owner,
            "id": repo.owner_id,
            "node_id": node_id("User", repo.owner_id),
            "type": "User",
        },
        "html_url": repo.html_url(base_url),
        "description": None,
        "fork": False,
        "url": repo.html_url(base_url),
        "clone_url": clone_url,
        # In dream the HTTP address is the only clonable one, and patrick/monkey clone `ssh_url`
        # (like upstream), so every URL field points at it.
        "ssh_url": clone_url,
        "git_url": clone_url,
        "default_branch": repo.default_branch,
        "master_branch": repo.default_branch,
        "created_at": repo.created_at,
        "pushed_at": pushed_at if pushed_at is not None else repo.pushed_at,
    }


def push_payload(
    repo: Repository,
    ref: str,
    before: str,
    after: str,
    commits: list[dict[str, Any]],
    pusher: str | Mapping[str, str],
    pushed_at: int,
    *,
    base_url: str = DEFAULT_BASE_URL,
    head_commit: dict[str, Any] | None = None,
    forced: bool = False,
) -> dict[str, Any]:
    """A GitHub `push` event for one ref.

    `commits` are GitHub commit objects, oldest first (see `dream.provider.commits.read_commits`);
    `head_commit` defaults to the last of them when it is `after`. `pusher` is a login or a
    `{name, email}` mapping.
    """
    before = before or ZERO
    after = after or ZERO
    if isinstance(pusher, str):
        person = {"name": pusher, "email": f"{pusher}@users.noreply.dream"}
    else:
        person = {"name": pusher.get("name", repo.owner), "email": pusher.get("email", "")}
    if head_commit is None and commits and commits[-1].get("id") == after:
        head_commit = commits[-1]
    deleted = after == ZERO
    login = person["name"]
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": repository_json(repo, base_url, pushed_at),
        "pusher": person,
        "sender": {
            "login": login,
            "id": repo.owner_id if login == repo.owner else user_id(login),
            "type": "User",
        },
        "created": before == ZERO,
        "deleted": deleted,
        "forced": forced,
        "base_ref": None,
        "compare": f"{repo.html_url(base_url)}/compare/{_short(before)}...{_short(after)}",
        "commits": [] if deleted else commits,
        "head_commit": None if deleted else head_commit,
    }
