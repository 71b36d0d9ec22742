"""A project's messaging channels for the dashboard: those its published config declares, and the
messages a substrate keeps, decoded for the page (publishing goes through `/pubsub/{u}/publish`)."""

from __future__ import annotations

import base64
from typing import Any

from dream.clients import Clients
from dream.daemon.routes.pubsub import project_id as project_id_of
from dream.daemon.universe import Universe
from dream.errors import DreamError

# Most of a message's bytes the page shows (as text; the size says how many there were).
MESSAGE_SHOWN = 4096


async def channels(universe: Universe, project: str, branch: str) -> dict[str, Any]:
    """{project, name, channels: [{name, match, regex, websocket, application}]} of the project's
    published config (its applications' channels too)."""
    peers = universe.peer_client()
    try:
        pid = await project_id_of(peers, project)
        obj = await Clients(peers).tns.published_config(pid, branch)
    finally:
        await peers.close()
    if obj is None:
        raise DreamError(
            f"project `{project}` has no published config in universe `{universe.name}` on branch {branch}: "
            "push it first (push all)"
        )
    scopes: list[tuple[str | None, dict[str, Any]]] = [(None, obj)]
    scopes += [(str(a.get("name") or aid), a) for aid, a in (obj.get("applications") or {}).items()]
    found = [
        {
            "name": item.get("name") or rid,
            "match": item.get("match") or "",
            "regex": bool(item.get("regex")),
            "websocket": bool(item.get("websocket")),
            "application": app,
        }
        for app, scope in scopes
        for rid, item in (scope.get("messaging") or {}).items()
        if isinstance(item, dict)
    ]
    return {"project": pid, "name": obj.get("name") or project, "channels": found}


def message_view(message: dict[str, Any]) -> dict[str, Any]:
    """A kept message as the page shows it: its bytes as text (at most MESSAGE_SHOWN) and their size."""
    data = base64.b64decode(message.get("data") or "")
    return {
        "seq": message.get("seq"),
        "channel": message.get("channel"),
        "project": message.get("project"),
        "source": message.get("source"),
        "at": message.get("at"),
        "size": len(data),
        "text": data[:MESSAGE_SHOWN].decode(errors="replace"),
    }
