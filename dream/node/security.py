"""Proof of universe membership on the node-to-node API.

Every request between nodes carries an HMAC of (method, path, time, body digest) keyed by the universe
secret. A node refuses a request with no proof (401) or a wrong one (403): a stray client or a node of
another universe cannot talk to it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Generator
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SIGNATURE_HEADER = "x-dream-signature"
TIME_HEADER = "x-dream-time"
PEER_HEADER = "x-dream-peer"
UNIVERSE_HEADER = "x-dream-universe"
# A signature older than this is a replay, not a request.
MAX_SKEW_SECONDS = 120.0
# Paths any local caller may use without proof (nothing sensitive).
OPEN_PATHS: frozenset[str] = frozenset()

log = logging.getLogger("dream.security")


def signature(secret: bytes, method: str, path: str, stamp: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    message = f"{method.upper()}\n{path}\n{stamp}\n{digest}".encode()
    return "v1=" + hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign_headers(
    secret: bytes, method: str, path: str, body: bytes, *, peer: str, universe: str
) -> dict[str, str]:
    stamp = f"{time.time():.3f}"
    return {
        SIGNATURE_HEADER: signature(secret, method, path, stamp, body),
        TIME_HEADER: stamp,
        PEER_HEADER: peer,
        UNIVERSE_HEADER: universe,
    }


def signed_path(scope: Any) -> str:
    """The path a request was signed over: as sent (percent-encoding kept), as `UniverseAuth` signs it."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])


def verify(secret: bytes, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """(0, "") when the proof holds, else (HTTP status, reason)."""
    sig = headers.get(SIGNATURE_HEADER)
    stamp = headers.get(TIME_HEADER)
    if not sig or not stamp:
        return 401, "no proof of universe membership (x-dream-signature missing)"
    try:
        when = float(stamp)
    except ValueError:
        return 403, f"malformed x-dream-time {stamp[:40]!r}: expected unix seconds, e.g. 1718000000.123"
    # float() takes "nan", "inf" and "1e999": nan compares false with everything, so it would pass the age check.
    if not math.isfinite(when):
        return 403, f"x-dream-time {stamp[:40]!r} is not a finite number of unix seconds"
    age = abs(time.time() - when)
    if age > MAX_SKEW_SECONDS:
        return 403, f"signature is {age:.0f}s old"
    if not hmac.compare_digest(sig, signature(secret, method, path, stamp, body)):
        return 403, "signature does not match this universe's key"
    return 0, ""


class UniverseAuth(httpx.Auth):
    """httpx auth that signs each request with the universe key."""

    requires_request_body = True

    def __init__(self, secret: bytes, *, peer: str, universe: str) -> None:
        self.secret = secret
        self.peer = peer
        self.universe = universe

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            sign_headers(
                self.secret,
                request.method,
                request.url.raw_path.decode().split("?", 1)[0],
                request.content,
                peer=self.peer,
                universe=self.universe,
            )
        )
        yield request


class UniverseGuard:
    """ASGI middleware refusing requests that do not prove membership of the universe."""

    def __init__(self, app: ASGIApp, *, secret: bytes, label: str) -> None:
        self.app = app
        self.secret = secret
        self.label = label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status, reason = verify(self.secret, scope["method"], signed_path(scope), headers, body)
        if status:
            peer = headers.get(PEER_HEADER, "unknown peer")
            client = scope.get("client") or ("?", 0)
            log.warning(
                "refused %s %s from %s (%s:%s): %s",
                scope["method"],
                scope["path"],
                peer,
                client[0],
                client[1],
                reason,
            )
            await _reply(
                send, status, {"code": status, "error": f"{self.label} refused the request: {reason}"}
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})
