"""gateway: one HTTP entry that proxies each request to the best substrate able to serve it.

A substrate's score: healthy first, then able to serve the Host/path (asked over p2p, cached briefly),
then with the function's module already loaded, then the fewest requests in flight. Requests go over
pooled keep-alive connections (`dream.http.upstream`) and carry `X-Substrate-Peer`.

Down marks: only a refused connection (nothing listens on the port) marks a substrate down, for at most
DOWN_FOR; the request goes to the next one. While the mark lasts, the substrate's port is tried every
PROBE_EVERY and the first connection it accepts clears the mark, so a restarted substrate serves again
as soon as it listens. A bad answer (one the parser rejects, a connection dropped mid-request) is one
function's doing: that request gets a 502, the substrate stays in use.

The HTTP port is a raw ASGI app, not starlette: every request is proxied, and the gateway's own cost
per request has to stay well under the substrate's. Candidates are cached per (Host, path, method) for
MATCH_TTL; in-flight counts and down marks are read per request. A request whose route is cached and
whose best substrate has an idle connection takes the fast path (`fast_http`): sent from the HTTP
parser's callback and answered from the upstream's (`Relay`), with no task, no ASGI messages and the
substrate's headers relayed as parsed; anything else, and any failure that may go on to another
substrate, takes the ASGI path's logic (`_forward`), so both keep the same checks and failover.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from dream.clients.auth import AuthClient
from dream.clients.base import ServiceError
from dream.clients.substrate import SubstrateClient
from dream.errors import DreamError
from dream.gateway import priority, upstreams
from dream.gateway import relay as c_relay
from dream.gateway.websocket import Relays
from dream.http.asgi import BODYLESS, FRAMING, read_body
from dream.http.hosts import routed_host
from dream.http.message import Headers, Request
from dream.http.records import VIA, make_ring, records_answer
from dream.http.upstream import (
    Reply,
    UpstreamConnectError,
    UpstreamDropped,
    UpstreamError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamTimeout,
    connect,
    where,
)
from dream.http.upstream import Response as UpstreamResponse
from dream.node import Node
from dream.node.peers import PeerInfo

if TYPE_CHECKING:
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from dream.http.server import Connection

MATCH_TTL = 2.0
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# A substrate that refused a connection is left out for at most this long (seconds) ...
DOWN_FOR = 2.0
# ... and its port is tried this often meanwhile: the first accepted connection ends the mark.
PROBE_EVERY = 0.05
# How long one probe waits for the connection to be accepted.
PROBE_TIMEOUT = 0.5
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-connection",
    "content-length",
}
# ASGI header names are lower-case bytes. `expect` is answered here: the body is read before it goes on.
# A client's own `x-dream-gateway` is dropped too: the gateway adds its own (`dream.http.records.VIA`).
REQUEST_DROP = frozenset(name.encode() for name in HOP_HEADERS) | {b"expect", VIA}
# The substrate's server and date headers are not the gateway's (a server may add its own).
RESPONSE_DROP = frozenset(name.encode() for name in HOP_HEADERS) | {b"server", b"date"}
# ACME http-01 challenges (RFC 8555 §8.3) are answered by the gateway itself, from auth.
ACME_CHALLENGE = "/.well-known/acme-challenge/"

# The request inspector's record of a forwarded request (`dream.http.records`): `request` is the number the
# substrate's record names in its `via`; `substrate` the node that answered (empty: none did).
RECORD_FIELDS = ("seq", "time", "method", "host", "path", "status", "total_ns", "bytes_out", "substrate")
_clock = time.perf_counter_ns
# The caches grow with the distinct (host, path, method) seen; past this, expired entries go.
ROUTES_KEPT = 4096


@dataclass
class Candidate:
    peer: PeerInfo
    match: bool
    warm: bool
    inflight: int

    def score(self) -> tuple[int, int, int]:
        return (int(self.match), int(self.warm), -self.inflight)


@dataclass(slots=True)
class Target:
    """A candidate as the hot path uses it: what to connect to and what to say, computed once."""

    id: str
    port: int  # its HTTP port: names the substrate to the pool and the relay even on a Unix socket
    score: tuple[int, int]  # (match, warm); in-flight counts are read per request
    header: bytes  # the x-substrate-peer value
    host: str  # 127.0.0.1, or the Unix socket's path (`dream.gateway.upstreams`)


Route = tuple[float, list[Target]]  # (expires, targets by score, best first)


class Service(Node):
    fast_loop = True
    # Served by dream's HTTP server rather than uvicorn: each response goes out in one write, and
    # uvicorn's per-request machinery was a large part of the gateway's cost.
    own_http_server = True
    # A client that goes away ends its request here and upstream (the substrate then stops the call).
    cancel_on_disconnect = True

    async def on_start(self) -> None:
        priority.give_way(self.log)  # first: the threads the gateway starts inherit it
        # As many idle connections as wrk-like clients keep busy: closing and reopening costs more.
        self.pool = UpstreamPool(max_idle_per_host=256, connect_timeout=2.0, read_timeout=60.0)
        self.inflight: dict[str, int] = {}
        self.down: dict[str, float] = {}  # peer id → when it last refused a connection
        self.probes: dict[str, asyncio.Task[None]] = {}
        self.matches: dict[tuple[str, str, str, str], tuple[float, bool, bool]] = {}
        self.routes: dict[tuple[bytes, str, str], Route] = {}
        self.resolving: dict[tuple[bytes, str, str], asyncio.Task[Route]] = {}
        self.websocket_upgrade = Relays(self._live_substrates, self.log).upgrade
        self.ring = make_ring(RECORD_FIELDS)  # None when DREAM_INSPECT=0
        self.via_prefix = self.config.id.encode() + b" "
        # The usual request relayed in C (`dream.gateway.relay`), reading the caches above: None when off.
        self.relay: Any = None
        self.relay_opening: dict[int, int] = {}  # port → the relay's connections being opened to it
        self.to_sockets = upstreams.use_sockets()  # False: DREAM_GATEWAY_UPSTREAM=tcp
        self.hosts: dict[int, str] = {}  # a substrate's port → the host to connect to (its last route's)
        self.relay_tasks: set[asyncio.Task[None]] = set()
        module, _ = c_relay.load()
        if module is not None:
            self.relay = module.Relay(
                routes=self.routes,
                inflight=self.inflight,
                down=self.down,
                ring=self.ring,
                via_prefix=self.via_prefix,
                status_lines=c_relay.STATUS_LINES,
                fallback=self._carry_on,
                want=self._want_upstream,
                pool=self.pool,
                down_for=DOWN_FOR,
                max_idle=self.pool.max_idle_per_host,
            )
            self.relay_module = module
            self.http_relay = self.relay
            if self.ring is not None:  # the relay keeps its records in C, read with the ring's
                self.ring.extra = self.relay.kept_after
        # As the substrate does: what start-up made lives as long as the node, so a full collection (made
        # frequent by the inspector's ring, which keeps records alive across many requests) scans only
        # what requests made, and pauses the relay for less.
        gc.freeze()

    async def _live_substrates(self) -> list[PeerInfo]:
        return [
            p for p in await self.peers.discover("substrate") if "http" in p.ports and not self._is_down(p.id)
        ]

    async def on_stop(self) -> None:
        if self.relay is not None:
            self.relay.close()
        for task in [*self.probes.values(), *self.relay_tasks]:
            task.cancel()
        await asyncio.gather(*self.probes.values(), *self.relay_tasks, return_exceptions=True)
        await self.pool.close()

    def health(self) -> dict[str, Any]:
        now = time.monotonic()
        down = sorted(peer for peer, since in self.down.items() if now - since < DOWN_FOR)
        return {"inflight": sum(self.inflight.values()), "down": down}

    # -- down marks ----------------------------------------------------------------------------------

    def _is_down(self, peer_id: str) -> bool:
        return time.monotonic() - self.down.get(peer_id, -DOWN_FOR) < DOWN_FOR

    def _mark_down(self, peer_id: str, host: str, port: int, why: str) -> None:
        """`peer_id` refused a connection: leave it out until its port accepts one (DOWN_FOR at most)."""
        if not self._is_down(peer_id):
            self.log.warning(
                "substrate %s is down (%s); its port is tried every %gs", peer_id, why, PROBE_EVERY
            )
        self.down[peer_id] = time.monotonic()
        if peer_id not in self.probes:
            self.probes[peer_id] = asyncio.get_running_loop().create_task(self._probe(peer_id, host, port))

    async def _probe(self, peer_id: str, host: str, port: int) -> None:
        try:
            while self._is_down(peer_id):
                await asyncio.sleep(PROBE_EVERY)
                if await upstreams.accepts(host, port, PROBE_TIMEOUT):
                    self.down.pop(peer_id, None)
                    # Routes resolved while it was down left it out: resolve them again.
                    self.routes.clear()
                    self.log.info("substrate %s accepts connections again; back in use", peer_id)
                    return
        finally:
            del self.probes[peer_id]

    async def tls_certificate(self, name: str) -> tuple[str, str] | None:
        return await AuthClient(self.peers).serving_certificate(name)

    def http_app(self) -> Any:
        # The service itself is the ASGI app (`__call__`): nothing between the server and the proxy.
        return self

    async def _match(self, peer: PeerInfo, host: str, path: str, method: str) -> tuple[bool, bool]:
        key = (peer.id, host, path, method)
        cached = self.matches.get(key)
        if cached and time.monotonic() - cached[0] < MATCH_TTL:
            return cached[1], cached[2]
        try:
            found = await SubstrateClient(self.peers).match(peer, host, path, method)
            result = found.match, found.warm
        except (httpx.HTTPError, ServiceError):
            # Not kept, and not a down mark: a request still tries its HTTP port, whose refusal is the
            # one sign of a substrate down (and is then the request's answer).
            return False, False
        self.matches[key] = (time.monotonic(), *result)
        return result

    async def candidates(self, host: str, path: str, method: str) -> list[Candidate]:
        substrates = [p for p in await self.peers.discover("substrate") if "http" in p.ports]
        found = []
        for peer in substrates:
            if self._is_down(peer.id):
                continue
            match, warm = await self._match(peer, host, path, method)
            found.append(Candidate(peer, match, warm, self.inflight.get(peer.id, 0)))
        return sorted(found, key=Candidate.score, reverse=True)

    # -- choosing ------------------------------------------------------------------------------------

    async def _targets(self, key: tuple[bytes, str, str], now: float) -> list[Target]:
        """The substrates for (host header, path, method), best first: cached for MATCH_TTL."""
        route = self.routes.get(key)
        if route is not None and now < route[0]:
            return route[1]
        # One refresh per key at a time: a burst of requests waits on the same lookups.
        task = self.resolving.get(key)
        if task is None:
            task = asyncio.create_task(self._resolve(key))
            self.resolving[key] = task
            task.add_done_callback(lambda _: self.resolving.pop(key, None))
        return (await asyncio.shield(task))[1]

    async def _resolve(self, key: tuple[bytes, str, str]) -> Route:
        host_header, path, method = key
        host = routed_host(host_header)  # the substrates route `<fqdn>.localhost` as `<fqdn>` too
        found = await self.candidates(host, path, method)
        targets = [
            Target(
                c.peer.id,
                c.peer.ports["http"],
                (int(c.match), int(c.warm)),
                c.peer.id.encode(),
                upstreams.host_of(c.peer, self.to_sockets),
            )
            for c in found
        ]
        for target in targets:
            self.hosts[target.port] = target.host
        targets.sort(key=lambda t: t.score, reverse=True)
        now = time.monotonic()
        expires = now + MATCH_TTL
        # A substrate left out for being down is looked at again as soon as its time is up.
        for since in self.down.values():
            if now - since < DOWN_FOR:
                expires = min(expires, since + DOWN_FOR)
        if len(self.routes) >= ROUTES_KEPT:
            # In place: the relay reads this very dict.
            for gone in [k for k, r in self.routes.items() if r[0] <= now]:
                del self.routes[gone]
            self.matches = {k: m for k, m in self.matches.items() if now - m[0] < MATCH_TTL}
        route = (expires, targets)
        if targets:
            # None found is not kept: the next request asks again, as soon as a registry answers.
            self.routes[key] = route
            if self.relay is not None and not self.relay.idle(targets[0].port):
                self._want_upstream(targets[0].port)  # so that the next request finds one
        return route

    def _pick(self, targets: list[Target], tried: set[str] | None) -> Target | None:
        """The best live target: highest score, then fewest requests in flight right now."""
        down = self.down
        now = time.monotonic() if down else 0.0
        inflight = self.inflight
        best: Target | None = None
        best_load = 0
        for target in targets:
            if down and now - down.get(target.id, -DOWN_FOR) < DOWN_FOR:
                continue
            if tried and target.id in tried:
                continue
            if best is None:
                best, best_load = target, inflight.get(target.id, 0)
            elif target.score != best.score:
                break  # sorted by score: below the best live group, none can win
            else:
                load = inflight.get(target.id, 0)
                if load < best_load:
                    best, best_load = target, load
        return best

    # -- the request inspector -----------------------------------------------------------------------

    def p2p_routes(self) -> list[BaseRoute]:
        from starlette.routing import Route

        return [Route("/gateway/requests", self.requests, methods=["GET"])]

    async def requests(self, request: StarletteRequest) -> Response:
        """p2p `GET /gateway/requests?after=&limit=` → the inspector's records of this gateway."""
        return records_answer(self.ring, request.query_params, self.config.id)

    # -- serving -------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        ring = self.ring
        if ring is None:
            await self._proxy(scope, receive, send, None)
            return
        began = _clock()
        ring.seq = seq = ring.seq + 1
        # What the record needs comes back from `_proxy` (no wrapper around `send` on every message).
        answer: tuple[int, int, bytes] = (502, 0, b"")  # status, body bytes, the substrate that answered
        try:
            answer = await self._proxy(scope, receive, send, self.via_prefix + b"%d" % seq)
        finally:
            ring.records.append(
                (
                    seq,
                    _clock(),
                    scope["method"],
                    _host_of(scope["headers"]),
                    scope["path"],
                    answer[0],
                    _clock() - began,
                    answer[1],
                    answer[2],
                )
            )

    async def _proxy(
        self, scope: dict[str, Any], receive: Any, send: Any, via: bytes | None
    ) -> tuple[int, int, bytes]:
        """Forward one request; (status, body bytes, the answering substrate's id) for the record."""
        method: str = scope["method"]
        host, framed, headers = _forwarded(scope["headers"])
        if via is not None:
            headers.append((VIA, via))  # last: the substrate looks there
        path: str = scope["path"]
        if path.startswith(ACME_CHALLENGE):  # ACME http-01: answered here, from auth
            return await self._acme_challenge(path[len(ACME_CHALLENGE) :], send)
        key = (host, path, method)
        now = time.monotonic()
        route = self.routes.get(key)
        if route is not None and now < route[0]:
            targets = route[1]  # the usual case: no coroutine to look it up
        else:
            try:
                targets = await self._targets(key, now)
            except DreamError as exc:
                return await _plain(send, 502, f"gateway cannot find substrates: {exc}")
        target = self._pick(targets, None)
        if target is None:
            return await _plain(send, 502, self._none_live())
        body = b""  # a GET or HEAD without a length has no body to wait for
        if framed or method not in BODYLESS:
            read = await read_body(receive, method, framed)
            if read is None:  # the client went away
                return (502, 0, b"")  # recorded as before: nothing was answered
            body = read
        target_bytes = scope.get("raw_path") or path.encode()
        query = scope["query_string"]
        if query:
            target_bytes += b"?" + query
        status, out, answer, peer = await self._forward(
            targets, target, None, "", method, target_bytes, headers, body
        )
        if peer:
            if method != "HEAD" and status >= 200 and status not in (204, 304):
                out.insert(-1, (b"content-length", b"%d" % len(answer)))
        else:
            out.append((b"content-length", b"%d" % len(answer)))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": answer})
        return status, len(answer), peer

    async def _forward(
        self,
        targets: list[Target],
        target: Target | None,
        tried: set[str] | None,
        last_error: str,
        method: str,
        target_bytes: bytes,
        headers: Headers,
        body: bytes,
    ) -> tuple[int, Headers, bytes, bytes]:
        """Send the request to `target`, then to the next ones while failing over is safe; the answer as
        (status, headers without framing, body, the answering substrate's id: b"" for the gateway's own)."""
        inflight = self.inflight
        while target is not None:
            peer_id = target.id
            inflight[peer_id] = inflight.get(peer_id, 0) + 1
            try:
                status, upstream, answer = await self.pool.request(
                    target.host, target.port, method, target_bytes, headers, body
                )
            except UpstreamConnectError as exc:
                # Nothing was sent: any method may go to the next substrate.
                if exc.refused:
                    self._mark_down(peer_id, target.host, target.port, str(exc))
                tried = self._next_after(tried, peer_id)
                last_error = f"{peer_id}: {exc}"
                target = self._pick(targets, tried)
                continue
            except UpstreamError as exc:
                failure = _failure(exc, peer_id, method)
                if failure is not None:
                    return failure
                tried = self._next_after(tried, peer_id)
                last_error = f"{peer_id}: {exc}"
                target = self._pick(targets, tried)
                continue
            finally:
                inflight[peer_id] -= 1
            return status, _relayed(upstream, method, target.header), answer, target.header
        return _own(502, f"every substrate failed: {last_error}")

    # -- the fast path: no task, no ASGI -------------------------------------------------------------

    def fast_http(self, request: Request) -> Relay | None:
        """A request whose route is cached and whose best substrate has an idle connection: sent from the
        HTTP parser's callback, answered from the upstream's (`Relay`). Anything else (first requests,
        ACME challenges, no idle connection) takes the ASGI path; failures go on from there (`Relay`).
        The node runtime turns this off while a chaos fault is set on the port, as for the substrate."""
        method = request.method
        host, _, headers = _forwarded(request.headers)
        route = self.routes.get((host, request.path, method))
        if route is None or time.monotonic() >= route[0]:
            return None
        target = self._pick(route[1], None)
        if target is None:
            return None
        ring = self.ring
        seq = 0
        if ring is not None:
            seq = ring.seq + 1
            headers.append((VIA, self.via_prefix + b"%d" % seq))  # last: the substrate looks there
        target_bytes = request.raw_path
        if request.query:
            target_bytes += b"?" + request.query
        relay = Relay(self, request, route[1], target, target_bytes, headers, seq)
        relay.upstream = self.pool.send_idle(
            target.host, target.port, method, target_bytes, headers, request.body, relay.reply
        )
        if relay.upstream is None:
            return None  # nothing was sent: the ASGI path connects
        if ring is not None:
            ring.seq = seq
        self.inflight[target.id] = self.inflight.get(target.id, 0) + 1
        return relay

    def _record(self, relay: Relay, status: int, size: int, peer: bytes) -> None:
        ring = self.ring
        if ring is not None:
            request = relay.request
            ring.records.append(
                (
                    relay.seq,
                    _clock(),
                    request.method,
                    _host_of(request.headers),
                    request.path,
                    status,
                    _clock() - relay.began,
                    size,
                    peer,
                )
            )

    # -- the relay in C: where it stops, the Python path goes on ---------------------------------------

    def _carry_on(self, kind: str, pending: Any, upstream: Any, arg: Any) -> None:
        """The C relay stopped short of the usual answer of `pending` (`dream.gateway.relay`): a `Relay`
        takes the request on from there, as if the fast path had sent it. `kind`: "data" (an answer not of
        the usual shape, `arg` its first bytes: the Python pool's parser takes the connection over),
        "answer" (a usual answer, `arg`, for a connection in an unusual state), "lost" (the connection
        closed before a whole answer; `arg` the exception or None), "error" (`arg`, the pool's timeout)."""
        try:
            self._take_over(kind, pending, upstream, arg)
        except Exception:  # never leave the client waiting
            self.log.exception("carrying on a request the relay sent failed (%s)", kind)
            connection = pending.connection
            if connection is not None and connection.later is pending:
                connection.later = None
                connection.close()

    def _take_over(self, kind: str, pending: Any, upstream: Any, arg: Any) -> None:
        request = self.relay_module.parse(pending.head, Request, 1 << 30, 1 << 30, 1 << 30)
        _, _, headers = _forwarded(request.headers)
        if self.ring is not None:
            headers.append((VIA, self.via_prefix + b"%d" % pending.seq))
        target_bytes = request.raw_path + (b"?" + request.query if request.query else b"")
        relay = Relay(self, request, pending.targets, pending.target, target_bytes, headers, pending.seq)
        relay.began = pending.began
        connection = pending.connection
        relay.connection = connection
        if connection.later is not pending:  # the client went away meanwhile
            self.inflight[pending.target.id] -= 1
            self._record(relay, 502, 0, b"")
            return
        connection.later = relay
        if kind == "data":
            host = self._host(upstream.port)
            relay.upstream = self.pool.adopt(
                upstream.transport, host, upstream.port, relay.reply, upstream.sent_at
            )
            relay.upstream.data_received(arg)
            return
        relay.reply.finished = True  # answered here, not through the reply
        relay.upstream = _Sent(upstream.received, upstream.sent_at)
        if kind == "answer":
            relay._done(self.relay_module.parse_response(arg), None)
            return
        if kind == "lost":
            reason = f": {arg}" if arg else ""
            arg = UpstreamDropped(
                f"{upstream._where()} closed the connection before a whole response{reason}"
            )
        relay._done(None, arg)

    def _want_upstream(self, port: int) -> None:
        """The relay found no idle connection of its own to `port`: open one for the next request (the
        one at hand goes the Python way)."""
        opening = self.relay_opening.get(port, 0)
        if opening >= c_relay.OPENING:
            return
        self.relay_opening[port] = opening + 1
        task = asyncio.get_running_loop().create_task(self._open_upstream(port))
        self.relay_tasks.add(task)
        task.add_done_callback(self.relay_tasks.discard)

    async def _open_upstream(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            host = self._host(port)
            await asyncio.wait_for(
                connect(loop, lambda: self.relay.upstream(port, where(host, port)), host, port),
                self.pool.connect_timeout,
            )
        except (OSError, TimeoutError):
            pass  # the Python path's own connect says why (and marks the substrate down when refused)
        finally:
            self.relay_opening[port] -= 1

    def _host(self, port: int) -> str:
        """Where the substrate on `port` is reached (its Unix socket or loopback), as its route said."""
        return self.hosts.get(port, upstreams.LOOPBACK)

    async def _acme_challenge(self, token: str, send: Any) -> tuple[int, int, bytes]:
        """The key authorization auth's ACME server expects for `token` (RFC 8555 http-01)."""
        try:
            found = await AuthClient(self.peers).acme_key_authorization(token)
        except ServiceError as exc:
            return await _plain(send, 502, f"gateway cannot ask auth for the ACME challenge: {exc}")
        if found is None:
            return await _plain(send, 404, f"no ACME challenge {token[:64]!r} is pending")
        return await _plain(send, 200, found)

    @staticmethod
    def _next_after(tried: set[str] | None, peer_id: str) -> set[str]:
        """The substrates a request has failed on, with `peer_id` (made on the first failure only)."""
        found = tried if tried is not None else set()
        found.add(peer_id)
        return found

    def _none_live(self) -> str:
        """Why no substrate can take a request (a failure path: the cost is not counted)."""
        down = self.health()["down"]
        if down:
            return (
                f"every substrate is down ({', '.join(down)} refused connections); each is tried every "
                f"{PROBE_EVERY:g}s and used again as soon as it accepts one: retry in a moment"
            )
        return "no substrate is running in this universe"


class Relay:
    """One request the fast path sent upstream: answered from the response future's callback, with no
    task. A failure that may go on (a dropped idempotent request) goes on in a task, as `_forward`."""

    __slots__ = (
        "began",
        "connection",
        "headers",
        "reply",
        "request",
        "seq",
        "service",
        "target",
        "target_bytes",
        "targets",
        "task",
        "upstream",
    )

    def __init__(
        self,
        service: Service,
        request: Request,
        targets: list[Target],
        target: Target,
        target_bytes: bytes,
        headers: Headers,
        seq: int,
    ) -> None:
        self.began = _clock()
        self.service = service
        self.request = request
        self.targets = targets
        self.target = target
        self.target_bytes = target_bytes
        self.headers = headers
        self.seq = seq
        self.reply = Reply(self._done)
        self.upstream: Any = None  # the upstream connection it was sent on
        self.connection: Connection | None = None
        self.task: asyncio.Task[None] | None = None

    def attach(self, connection: Connection, request: Request) -> None:
        self.connection = connection  # before any reply: that comes with a later read

    def cancel(self) -> None:
        """The client went away: drop the upstream connection (the substrate then stops the call)."""
        if self.task is not None:
            self.task.cancel()
            return
        if not self.reply.finished:
            self.reply.finished = True
            self.upstream.give_up(self.reply)
            self.service.inflight[self.target.id] -= 1
            self.service._record(self, 502, 0, b"")

    def _done(self, response: UpstreamResponse | None, error: UpstreamError | None) -> None:
        """The upstream's answer or error, called from its connection's callbacks."""
        try:
            self._relay(response, error)
        except Exception as exc:  # never leave the client waiting
            self.service.log.exception("relaying %s %s failed", self.request.method, self.request.path)
            self._answer(*_own(502, f"gateway failed to relay the answer: {exc}"))

    def _relay(self, response: UpstreamResponse | None, error: UpstreamError | None) -> None:
        connection, request, target = self.connection, self.request, self.target
        assert connection is not None
        service = self.service
        service.inflight[target.id] -= 1
        if response is not None:
            status, upstream, answer = response
            out = _relayed(upstream, request.method, target.header)
            service._record(self, status, len(answer), target.header)
            connection.answer_later(request, status, out, answer)
            return
        assert error is not None
        if isinstance(error, UpstreamDropped) and service.pool.dropped_early(self.upstream, request.method):
            # A stale kept-alive connection the substrate closed as the request went: once more on a new
            # one, as `UpstreamPool.request` does it.
            go_on = self._go_on(target, None, "")
        else:
            failure = _failure(error, target.id, request.method)
            if failure is not None:
                self._answer(*failure)
                return
            tried = {target.id}  # a dropped request that may run again: on the next substrate
            go_on = self._go_on(service._pick(self.targets, tried), tried, f"{target.id}: {error}")
        self.task = asyncio.get_running_loop().create_task(go_on)

    async def _go_on(self, target: Target | None, tried: set[str] | None, last_error: str) -> None:
        request = self.request
        try:
            answer = await self.service._forward(
                self.targets,
                target,
                tried,
                last_error,
                request.method,
                self.target_bytes,
                self.headers,
                request.body,
            )
        except asyncio.CancelledError:
            self.service._record(self, 502, 0, b"")
            raise
        self._answer(*answer)

    def _answer(self, status: int, headers: Headers, body: bytes, peer: bytes) -> None:
        assert self.connection is not None
        self.service._record(self, status, len(body), peer)
        self.connection.answer_later(self.request, status, headers, body)


@dataclass(slots=True)
class _Sent:
    """What `UpstreamPool.dropped_early` reads of a request the C relay sent."""

    received: bool
    sent_at: float  # time.monotonic()


def _forwarded(headers: Headers) -> tuple[bytes, bool, Headers]:
    """The client's request headers as they go upstream: (Host, whether a body is framed, headers)."""
    host = b""
    framed = False
    out = []
    for name, value in headers:
        if name in REQUEST_DROP:
            if name in FRAMING:
                framed = True
            continue
        if name == b"host":
            host = value
        out.append((name, value))
    if not host:
        out.append((b"host", b"127.0.0.1"))  # an HTTP/1.0 client; HTTP/1.1 needs one upstream
    return host, framed, out


def _relayed(upstream: Headers, method: str, peer: bytes) -> Headers:
    """A substrate's response headers as the client gets them (the server frames the body itself)."""
    out = [(name, value) for name, value in upstream if name not in RESPONSE_DROP]
    if method == "HEAD":
        # No body came, but the length of the one a GET would get is the substrate's to tell.
        out += [(name, value) for name, value in upstream if name == b"content-length"]
    out.append((b"x-substrate-peer", peer))
    return out


def _failure(error: UpstreamError, peer_id: str, method: str) -> tuple[int, Headers, bytes, bytes] | None:
    """The answer to a request `peer_id` failed on, or None when it may go to another substrate."""
    if isinstance(error, UpstreamProtocolError):
        # One function's answer, not the substrate's state: this request fails, no other.
        return _own(502, f"substrate {peer_id} answered with a response that is not valid HTTP: {error}")
    if isinstance(error, UpstreamDropped):
        # The substrate had the request: it may have run. Only a method that may run twice goes on.
        if method not in IDEMPOTENT:
            return _own(502, f"substrate {peer_id} dropped the request: {error}")
        return None
    if isinstance(error, UpstreamTimeout):
        # Slow is not down: the function is still running there.
        return _own(504, f"substrate {peer_id} did not answer: {error}")
    return None


def _own(status: int, text: str) -> tuple[int, Headers, bytes, bytes]:
    """The gateway's own answer (no substrate's): plain text, without framing."""
    return status, [(b"content-type", b"text/plain; charset=utf-8")], text.encode(), b""


def _host_of(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"host":
            return value
    return b""


async def _plain(send: Any, status: int, text: str) -> tuple[int, int, bytes]:
    """Answer the gateway's own error; (status, body bytes, b"": no substrate answered) for the record."""
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status, len(body), b""
