"""gateway: one HTTP entry that proxies each request to the best substrate able to serve it.

A substrate's score: healthy first, then able to serve the Host/path (asked over p2p, cached briefly),
then with the function's module already loaded, then the fewest requests in flight. Requests go over
pooled keep-alive connections and carry `X-Substrate-Peer`. A substrate that refuses connections is
marked down for a moment and the request goes to the next one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dream.errors import DreamError
from dream.node import Node
from dream.node.peers import NO_TLS, PeerInfo

MATCH_TTL = 2.0
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DOWN_FOR = 2.0
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-connection",
    "content-length",
}


@dataclass
class Candidate:
    peer: PeerInfo
    match: bool
    warm: bool
    inflight: int

    def score(self) -> tuple[int, int, int]:
        return (int(self.match), int(self.warm), -self.inflight)


class Service(Node):
    fast_loop = True

    async def on_start(self) -> None:
        self.proxy = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=2.0),
            verify=NO_TLS,
            # A small pool: httpcore scans every pooled connection per request, so more costs CPU.
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )
        self.inflight: dict[str, int] = {}
        self.down: dict[str, float] = {}
        self.matches: dict[tuple[str, str, str, str], tuple[float, bool, bool]] = {}

    async def on_stop(self) -> None:
        await self.proxy.aclose()

    def health(self) -> dict[str, Any]:
        return {"inflight": sum(self.inflight.values()), "down": sorted(self.down)}

    def http_routes(self) -> list[BaseRoute]:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return [Route("/{path:path}", self.serve, methods=methods)]

    async def _match(self, peer: PeerInfo, host: str, path: str, method: str) -> tuple[bool, bool]:
        key = (peer.id, host, path, method)
        cached = self.matches.get(key)
        if cached and time.monotonic() - cached[0] < MATCH_TTL:
            return cached[1], cached[2]
        try:
            response = await self.peers.request(
                peer,
                "GET",
                "/substrate/match",
                params={"host": host, "path": path, "method": method},
                timeout=5,
            )
            answer = response.json()
            result = bool(answer.get("match")), bool(answer.get("warm"))
        except (httpx.HTTPError, ValueError):
            self.down[peer.id] = time.monotonic()
            result = (False, False)
        self.matches[key] = (time.monotonic(), *result)
        return result

    async def candidates(self, host: str, path: str, method: str) -> list[Candidate]:
        now = time.monotonic()
        substrates = [p for p in await self.peers.discover("substrate") if "http" in p.ports]
        found = []
        for peer in substrates:
            if now - self.down.get(peer.id, -DOWN_FOR) < DOWN_FOR:
                continue
            match, warm = await self._match(peer, host, path, method)
            found.append(Candidate(peer, match, warm, self.inflight.get(peer.id, 0)))
        return sorted(found, key=Candidate.score, reverse=True)

    async def serve(self, request: Request) -> Response:
        host = (request.headers.get("host") or "").split(":", 1)[0].lower()
        path = request.url.path
        try:
            candidates = await self.candidates(host, path, request.method)
        except DreamError as exc:
            return PlainTextResponse(f"gateway cannot find substrates: {exc}", status_code=502)
        if not candidates:
            return PlainTextResponse("no substrate is running in this universe", status_code=502)
        body = await request.body()
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_HEADERS]
        last_error = ""
        for candidate in candidates:
            peer = candidate.peer
            url = f"http://127.0.0.1:{peer.ports['http']}{request.url.path}"
            if request.url.query:
                url += "?" + request.url.query
            self.inflight[peer.id] = self.inflight.get(peer.id, 0) + 1
            try:
                upstream = await self.proxy.request(request.method, url, headers=headers, content=body)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                self.down[peer.id] = time.monotonic()
                # A refused connection served nothing; a dropped one may have run a non-idempotent request.
                if not isinstance(exc, httpx.ConnectError) and request.method not in IDEMPOTENT:
                    return PlainTextResponse(
                        f"substrate {peer.id} dropped the request: {exc}", status_code=502
                    )
                last_error = f"{peer.id}: {exc}"
                continue
            finally:
                self.inflight[peer.id] -= 1
            response = Response(upstream.content, status_code=upstream.status_code)
            for key, value in upstream.headers.multi_items():
                if key.lower() not in HOP_HEADERS and key.lower() not in ("server", "date"):
                    response.headers.append(key, value)
            response.headers["x-substrate-peer"] = peer.id
            return response
        return PlainTextResponse(f"every substrate failed: {last_error}", status_code=502)
