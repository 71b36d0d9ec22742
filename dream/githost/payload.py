"""GitHub `push` webhook payloads: the event shape the git host delivers (signed by `dream.http.webhooks`)."""

from __future__ import annotations

import time
from typing import Any


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
