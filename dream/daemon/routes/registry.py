"""The universe registry nodes announce themselves to and look peers up in; signed with the universe's
HMAC key instead of the home's token (see `registry_exempt`)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dream.daemon.inputs import body
from dream.daemon.routes.context import api, error, universe_of
from dream.errors import DreamError, json_type
from dream.node.peers import PeerInfo
from dream.node.security import signed_path, verify

log = logging.getLogger("dream.daemon")

ANNOUNCE = ["registry", "peers", "announce"]


def registry_exempt(method: str, path: str) -> bool:
    """The universe registry's announce: nodes prove membership with the universe's HMAC instead."""
    parts = path.split("/")  # "", "universe", <universe>, "registry", "peers", "announce"
    return method == "POST" and len(parts) == 6 and parts[1] == "universe" and parts[3:] == ANNOUNCE


def peer_from_body(data: dict[str, Any]) -> PeerInfo:
    """A node's announce, checked field by field."""
    wanted: dict[str, tuple[type, str]] = {
        "id": (str, "a string"),
        "name": (str, "a string"),
        "kind": (str, "a string"),
        "index": (int, "a whole number"),
        "pid": (int, "a whole number"),
        "ports": (dict, "a JSON object"),
        "universe": (str, "a string"),
    }
    for name, (kind, described) in wanted.items():
        if name not in data:
            raise DreamError(f"announce: missing `{name}`")
        value = data[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise DreamError(f"announce: `{name}` must be {described}, got {json_type(value)}")
    for protocol, port in data["ports"].items():
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise DreamError(f"announce: port `{protocol}` must be a number 0-65535, got {json_type(port)}")
    sockets = data.get("sockets", {})
    if not isinstance(sockets, dict) or not all(isinstance(path, str) for path in sockets.values()):
        raise DreamError(f"announce: `sockets` must be a JSON object of paths, got {json_type(sockets)}")
    if "registry" in data and not isinstance(data["registry"], bool):
        raise DreamError(f"announce: `registry` must be true or false, got {json_type(data['registry'])}")
    return PeerInfo.from_dict(data)


async def registry_announce(request: Request) -> Response:
    universe = universe_of(request)
    raw = await request.body()
    status_code, reason = verify(
        bytes.fromhex(universe.key),
        request.method,
        signed_path(request.scope),
        dict(request.headers),
        raw,
    )
    if status_code:
        log.warning("refused announce to universe %s: %s", universe.name, reason)
        return error(reason, status_code)
    try:
        data = await body(request)
        universe.registry.announce(peer_from_body(data))
    except DreamError as exc:
        return error(str(exc))
    return JSONResponse({"ok": True})


async def registry_peers(request: Request) -> Response:
    universe = universe_of(request)
    status_code, reason = verify(
        bytes.fromhex(universe.key),
        request.method,
        signed_path(request.scope),
        dict(request.headers),
        b"",
    )
    if status_code:
        return error(reason, status_code)
    name = request.query_params.get("name")
    return JSONResponse({"peers": [p.public() for p in universe.registry.peers(name)]})


def routes() -> list[Route]:
    return [
        Route("/universe/{universe}/registry/peers/announce", api(registry_announce), methods=["POST"]),
        Route("/universe/{universe}/registry/peers", api(registry_peers)),
    ]
