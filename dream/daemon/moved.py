"""A kept universe that came back on other ports: the URLs it stored with the old ones follow.

What a universe stores with a port: the git host's webhook targets (patrick's http port) and auth's
repository records (their clone URL: the git host's http port). The git host's own clone URLs are
made from its current port, and the working copies' remotes are the user's: `dream project show` says
how to fix them.
"""

from __future__ import annotations

from dream.githost.repos import rebase
from dream.node.peers import PeerClient


async def follow_ports(peers: PeerClient, moves: dict[str, str], *, git: bool, auth: bool) -> list[str]:
    """Rewrite every stored URL whose base is a key of `moves`; returns what changed, for the log."""
    changed: list[str] = []
    if git:
        answer = await peers.json("git", "POST", "/git/hooks/moved", json={"moves": moves})
        if answer["updated"]:
            changed.append(f"{answer['updated']} webhook target(s) in the git host")
    if auth:
        count = 0
        for repo in (await peers.json("auth", "GET", "/auth/repositories"))["repositories"]:
            url = rebase(str(repo.get("url") or ""), moves)
            if url != repo.get("url"):
                # Registering an existing repository again keeps its hook, secret and deploy key.
                await peers.json(
                    "auth",
                    "POST",
                    "/auth/repositories",
                    json={
                        "id": repo["id"],
                        "fullname": repo["fullname"],
                        "url": url,
                        "project": repo.get("project", ""),
                    },
                )
                count += 1
        if count:
            changed.append(f"{count} repository URL(s) in auth")
    return changed
