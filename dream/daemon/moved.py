"""A kept universe that came back on other ports: the URLs it stored with the old ones follow.

What a universe stores with a port: the git host's webhook targets (patrick's http port) and auth's
repository records (their clone URL: the git host's http port). The git host's own clone URLs are
made from its current port, and the working copies' remotes are the user's: `dream project show` says
how to fix them.
"""

from __future__ import annotations

from dream.clients import Clients
from dream.githost.repos import rebase
from dream.node.peers import PeerClient


async def follow_ports(peers: PeerClient, moves: dict[str, str], *, git: bool, auth: bool) -> list[str]:
    """Rewrite every stored URL whose base is a key of `moves`; returns what changed, for the log."""
    clients = Clients(peers)
    changed: list[str] = []
    if git:
        updated = await clients.git.hooks_moved(moves)
        if updated:
            changed.append(f"{updated} webhook target(s) in the git host")
    if auth:
        count = 0
        for repo in await clients.auth.repositories():
            url = rebase(str(repo.get("url") or ""), moves)
            if url != repo.get("url"):
                # Registering an existing repository again keeps its hook, secret and deploy key.
                await clients.auth.register_repository(
                    repo["id"], repo["fullname"], url=url, project=repo.get("project", "")
                )
                count += 1
        if count:
            changed.append(f"{count} repository URL(s) in auth")
    return changed
