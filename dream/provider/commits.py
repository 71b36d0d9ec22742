"""Commits of a bare repository in the shape GitHub uses inside `push` events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dream.provider.gitcli import git

# One record per commit: \x1e starts it, \x1f separates fields, the message comes last before the
# name-status lines (which git prints after the formatted header).
FIELDS = ("id", "tree_id", "author_name", "author_email", "timestamp", "committer_name", "committer_email")
FORMAT = "%x1e" + "%x1f".join(("%H", "%T", "%an", "%ae", "%aI", "%cn", "%ce", "%B")) + "%x1f"
CHANGE_KIND = {"A": "added", "D": "removed", "M": "modified", "T": "modified"}


def _person(name: str, email: str) -> dict[str, str]:
    # GitHub fills `username` only for emails it can tie to an account; dream has no accounts, so
    # the author's name stands in (upstream's dream payloads carry a plain user name there).
    return {"name": name, "email": email, "username": name}


def read_commits(git_dir: Path, shas: list[str], html_url: str) -> list[dict[str, Any]]:
    """GitHub push-event commit objects for `shas`, in the order given."""
    if not shas:
        return []
    out = git(
        "-c",
        "core.quotePath=false",
        "--git-dir",
        str(git_dir),
        "log",
        "--no-walk=unsorted",
        "--diff-merges=first-parent",
        "--no-renames",
        "--name-status",
        f"--format={FORMAT}",
        *shas,
    ).stdout
    commits: list[dict[str, Any]] = []
    for record in out.split("\x1e")[1:]:
        *values, message, changes = record.split("\x1f", len(FIELDS) + 1)
        fields = dict(zip(FIELDS, values, strict=True))
        files: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
        for line in changes.splitlines():
            status, _, path = line.partition("\t")
            if path and status[:1] in CHANGE_KIND:
                files[CHANGE_KIND[status[:1]]].append(path)
        commits.append(
            {
                "id": fields["id"],
                "tree_id": fields["tree_id"],
                "distinct": True,
                "message": message.rstrip("\n"),
                "timestamp": fields["timestamp"],
                "url": f"{html_url}/commit/{fields['id']}",
                "author": _person(fields["author_name"], fields["author_email"]),
                "committer": _person(fields["committer_name"], fields["committer_email"]),
                **files,
            }
        )
    return commits
