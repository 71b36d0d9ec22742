"""Pub-sub channels of a universe's projects, from outside functions (`dream pubsub`).

    POST /pubsub/{universe}/publish  {channel, text | base64, project?}  → {projects, functions}
    GET  /pubsub/{universe}/tail?channel=&project=&after=&wait=&peer=   → {seq, messages, peer}

`project` is a project's name or id; without it the message goes to every project with a messaging
channel that matches. A publish runs the functions subscribed to the channel, as one from a function
does. `tail` long-polls one substrate (`peer`, as the last answer named it) for the messages it saw
after `seq` `after` (-1: from now on).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.clients.auth import AuthClient
from dream.clients.base import ServiceError
from dream.clients.substrate import SubstrateClient
from dream.daemon.inputs import body, text
from dream.daemon.routes.context import api, peers_of, universe_of
from dream.errors import DreamError
from dream.node.peers import PeerClient

MAX_TAIL_WAIT = 20.0  # seconds one tail call may wait for a message


async def project_id(peers: PeerClient, wanted: str) -> str:
    """The id of the project `wanted` names (a name or an id); the console resolves names the same way."""
    if not wanted:
        return ""
    try:
        known = await AuthClient(peers).projects()
    except ServiceError:  # a universe without auth (projects deployed by `buildLocalProject`)
        known = []
    found = [p["id"] for p in known if wanted in (p["name"], p["id"])]
    return str(found[0]) if found else wanted


async def publish(request: Request) -> Any:
    universe = universe_of(request)
    data = await body(request)
    channel = text(data, "channel", required="a publish needs a `channel` (example: orders)") or ""
    if data.get("base64") is not None:
        try:
            message = base64.b64decode(str(data["base64"]), validate=True)
        except (binascii.Error, ValueError):
            raise DreamError("field `base64` is not base64; send the message as `text` or base64") from None
    else:
        message = (text(data, "text", default="") or "").encode()
    async with peers_of(universe) as peers:
        project = await project_id(peers, text(data, "project", default="") or "")
        try:
            published = await SubstrateClient(peers).publish(channel, message, project)
        except ServiceError as exc:
            raise DreamError(exc.message if exc.status is not None else str(exc)) from None
    return dict(published)


async def tail(request: Request) -> Any:
    universe = universe_of(request)
    q = request.query_params
    try:
        after = int(q.get("after", "-1"))
        wait = min(max(float(q.get("wait", "0")), 0.0), MAX_TAIL_WAIT)
    except ValueError:
        raise DreamError("`after` must be an integer and `wait` a number of seconds") from None
    async with peers_of(universe) as peers:
        project = await project_id(peers, q.get("project", ""))
        try:
            found = await SubstrateClient(peers).tail(
                q.get("channel", ""), project, after, wait, q.get("peer", "")
            )
        except ServiceError as exc:
            raise DreamError(exc.message if exc.status is not None else str(exc)) from None
    return dict(found)


def routes() -> list[Route]:
    return [
        Route("/pubsub/{universe}/publish", api(publish), methods=["POST"]),
        Route("/pubsub/{universe}/tail", api(tail)),
    ]
