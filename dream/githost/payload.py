"""GitHub `push` webhook payloads and their signatures (HMAC-SHA256, and SHA-1 like upstream's fixtures)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from typing import Any


def sign(body: bytes, secret: str) -> dict[str, str]:
    key = secret.encode()
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def webhook_headers(body: bytes, *, secret: str, hook_id: int | str, repo_id: int | str) -> dict[str, str]:
    """The headers GitHub sends with a push delivery, signatures included."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/dream",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Hook-Installation-Target-ID": str(repo_id),
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        **sign(body, secret),
    }


def verify_signature(body: bytes, secret: str, headers: Mapping[str, str]) -> bool:
    """True when a signature header matches: SHA-256 when present, else SHA-1."""
    lower = {k.lower(): v for k, v in headers.items()}
    key = secret.encode()
    sha256 = lower.get("x-hub-signature-256", "")
    if sha256.startswith("sha256=") and len(sha256) > len("sha256="):
        return hmac.compare_digest(sha256, "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest())
    sha1 = lower.get("x-hub-signature", "")
    if sha1.startswith("sha1="):
        return hmac.compare_digest(sha1, "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest())
    return False


def push_payload(
    *,
    repository: dict[str, Any],
    ref: str,
    before: str,
    after: str,
    commits: list[dict[str, Any]],
    pusher: str = "dream",
    pushed_at: int | None = None,
) -> dict[str, Any]:
    """GitHub's push event shape (the fields patrick and most receivers read)."""
    pushed = int(pushed_at if pushed_at is not None else time.time())
    zero = "0" * 40
    owner = {"name": repository["owner"], "login": repository["owner"], "id": repository.get("owner_id", 1)}
    return {
        "ref": ref,
        "before": before or zero,
        "after": after,
        "created": before in ("", zero),
        "deleted": after == zero,
        "forced": False,
        "compare": f"{repository['html_url']}/compare/{(before or zero)[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "repository": {
            "id": int(repository["id"]),
            "node_id": f"R_{repository['id']}",
            "name": repository["name"],
            "full_name": repository["full_name"],
            "private": bool(repository.get("private", False)),
            "owner": owner,
            "html_url": repository["html_url"],
            "clone_url": repository["clone_url"],
            "ssh_url": repository["clone_url"],
            "git_url": repository["clone_url"],
            "url": repository["html_url"],
            "default_branch": repository.get("default_branch", "main"),
            "master_branch": repository.get("default_branch", "main"),
            "created_at": int(repository.get("created_at", pushed)),
            "pushed_at": pushed,
        },
        "pusher": {"name": pusher, "email": f"{pusher}@localhost"},
        "sender": {"login": pusher, "id": 1},
    }
