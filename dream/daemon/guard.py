"""Who may drive the daemon: ASGI middleware in front of every route.

- The Host header must name the daemon itself (127.0.0.1, localhost or [::1] with its port): a web page
  on another name that resolves to 127.0.0.1 (DNS rebinding) is refused.
- A browser request is accepted only from the daemon's own origin: another `Origin`, or
  `Sec-Fetch-Site: cross-site`/`same-site`, is refused, and a CORS preflight from elsewhere gets a 403
  with no `Access-Control-Allow-*` header, so the browser never sends the real request.
- A state-changing request (POST, PUT, PATCH, DELETE) needs the home's token (`Authorization: Bearer`),
  except the routes `exempt` names (the universe registry's, which carry the universe's HMAC proof), or,
  from the dashboard's own pages, its session cookie with the `x-dream-console` header
  (`console/session.py`).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from dream.daemon.console.session import HEADER, cookie_of, session_value

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values of requests the daemon's own pages (or a user typing its address) make.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})

log = logging.getLogger("dream.daemon")


def own_hosts(port: int) -> list[str]:
    hosts = [f"{host}:{port}" for host in LOCAL_HOSTS]
    if port == 80:  # browsers leave the default port out of Host
        hosts += list(LOCAL_HOSTS)
    return hosts


def own_origins(port: int) -> list[str]:
    return [f"http://{host}:{port}" for host in LOCAL_HOSTS] + (
        [f"http://{host}" for host in LOCAL_HOSTS] if port == 80 else []
    )


class DaemonGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        port: int,
        token: str,
        token_file: Path,
        exempt: Callable[[str, str], bool] = lambda method, path: False,
    ) -> None:
        self.app = app
        self.port = port
        self.token = token.encode()
        self.session = session_value(token).encode()
        self.token_file = token_file
        self.exempt = exempt
        self.hosts = frozenset(own_hosts(port))
        self.origins = frozenset(own_origins(port))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.check(scope)
        if refusal is not None:
            status, reason = refusal
            client = scope.get("client") or ("?", 0)
            log.warning(
                "refused %s %s from %s:%s: %s",
                scope.get("method", "GET"),
                scope["path"],
                client[0],
                client[1],
                reason,
            )
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _reply(send, status, reason)
            return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> tuple[int, str] | None:
        """(status, sentence) when the request is refused, None when it may go on."""
        headers: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        method = scope.get("method", "GET")
        path = scope["path"]
        accepted = ", ".join(own_hosts(self.port))
        hosts = headers.get("host", [])
        if len(hosts) != 1 or hosts[0].strip().lower() not in self.hosts:
            given = "no Host header" if not hosts else f"Host `{', '.join(hosts)}`"
            return 403, (
                f"the daemon answers only requests addressed to itself, and this one has {given}; "
                f"accepted hosts: {accepted}"
            )
        origins = headers.get("origin", [])
        if origins and (len(origins) != 1 or origins[0].strip().lower() not in self.origins):
            preflight = method == "OPTIONS" and "access-control-request-method" in headers
            what = "cross-origin preflight" if preflight else "request"
            return 403, (
                f"{what} from the web page at Origin `{', '.join(origins)}` refused: the daemon accepts "
                f"browser requests only from its own origin ({', '.join(own_origins(self.port))}); "
                f"use the dream CLI or DreamClient"
            )
        site = headers.get("sec-fetch-site", [])
        if site and site[0].strip().lower() not in OWN_FETCH_SITES:
            return 403, (
                f"browser request from another site refused (Sec-Fetch-Site: {site[0]}): the daemon accepts "
                f"browser requests only from its own pages; use the dream CLI or DreamClient"
            )
        if method in STATE_CHANGING and not self.exempt(method, path):
            if not headers.get("authorization") and headers.get(HEADER) == ["1"]:
                return self.check_session(method, path, headers.get("cookie", []))
            return self.check_token(method, path, headers.get("authorization", []))
        return None

    def check_session(self, method: str, path: str, cookies: list[str]) -> tuple[int, str] | None:
        given = cookie_of("; ".join(cookies))
        if given and hmac.compare_digest(given.encode(), self.session):
            return None
        return 401, (
            f"{method} {path}: this dashboard page is not signed in (no or an old session cookie): open the "
            f"address `dream console` prints to sign in"
        )

    def check_token(self, method: str, path: str, values: list[str]) -> tuple[int, str] | None:
        how = (
            f"send `Authorization: Bearer <token>` with the token in {self.token_file} "
            f"(readable by its owner only; the dream CLI and DreamClient read it from there)"
        )
        if not values:
            return 401, f"{method} {path} changes state and needs the daemon's token: {how}"
        scheme, _, given = values[0].strip().partition(" ")
        if len(values) != 1 or scheme.lower() != "bearer" or not given.strip():
            return 401, f"{method} {path}: the Authorization header is not `Bearer <token>`: {how}"
        if not hmac.compare_digest(given.strip().encode(), self.token):
            return 403, f"{method} {path}: wrong token for this daemon: {how}"
        return None


async def _reply(send: Send, status: int, reason: str) -> None:
    data = json.dumps({"code": status, "error": reason}, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                # Nothing a refusal says may be cached and served to a page later.
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
