"""The gateway's websockets: an upgrade is taken only once a substrate has taken it; then the bytes are
relayed both ways as they come, frames unread (the client's masked frames are what a server reads, the
substrate's what a client reads), so the gateway neither decodes nor re-encodes a message: the substrate
applies the limits (`MAX_MESSAGE`, close codes) and the close handshake runs end to end.

The substrate chosen is the live one with the fewest open relays: every substrate copy serves every
channel (messages are forwarded between them). A substrate that refuses the upgrade gives the client
its answer (status and sentence); one that cannot be reached gives a 502.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from dream.http.websocket import WebSocket

if TYPE_CHECKING:
    from dream.http.message import Request
    from dream.node.peers import PeerInfo

OPEN_TIMEOUT = 5.0  # seconds the substrate has to take the upgrade
MAX_REFUSAL = 64 * 1024  # bytes of a substrate's refusal kept for the client


class Relays:
    """The gateway's `upgrade`: substrates from `substrates()` (live ones, best first)."""

    def __init__(self, substrates: Callable[[], Awaitable[list[PeerInfo]]], log: logging.Logger) -> None:
        self.substrates = substrates
        self.log = log
        self.open: dict[str, int] = {}  # peer id → relays open through it

    async def upgrade(self, request: Request) -> Relay | tuple[int, str]:
        peers = await self.substrates()
        if not peers:
            return 503, "no substrate is running to take the websocket"
        peer = min(peers, key=lambda p: self.open.get(p.id, 0))
        target = request.raw_path + (b"?" + request.query if request.query else b"")
        # The client's own upgrade (its key included): the substrate's accept token is the one the
        # gateway's 101 carries, and what the substrate negotiates (nothing optional) holds end to end.
        head = b"GET " + target + b" HTTP/1.1\r\n"
        head += b"".join(k + b": " + v + b"\r\n" for k, v in request.headers) + b"\r\n"
        relay = Relay(self, peer.id)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                await loop.create_connection(lambda: relay, "127.0.0.1", int(peer.ports["http"]))
                assert relay.upstream is not None
                relay.upstream.write(head)
                refused = await relay.answered
        except (OSError, TimeoutError, ConnectionError) as exc:
            relay.abort()
            self.log.warning("websocket relay to substrate %s failed: %s", peer.id, exc)
            return 502, f"substrate {peer.id} could not be reached for the websocket: {exc}"
        if refused is not None:
            relay.abort()
            return refused[0], refused[1] or f"refused by substrate {peer.id}"
        return relay


class Relay(asyncio.Protocol):
    """One client's websocket, relayed to a substrate's: the handler of the client's side and the
    protocol of the substrate's connection."""

    def __init__(self, relays: Relays, peer_id: str) -> None:
        import httptools

        self.relays = relays
        self.peer_id = peer_id
        self.upstream: asyncio.Transport | None = None
        self.socket: WebSocket | None = None
        self.parser: Any = httptools.HttpResponseParser(self)
        self.answered: asyncio.Future[tuple[int, str] | None] = asyncio.get_running_loop().create_future()
        self.early = b""  # what the substrate sent right after its 101, before the client's side opened
        self.refusal: list[bytes] = []

    # -- the substrate's side (asyncio.Protocol) ------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.upstream = transport

    def data_received(self, data: bytes) -> None:
        if self.socket is not None:
            self.socket.write(data)
            return
        if self.answered.done():
            self.early += data
            return
        import httptools

        try:
            self.parser.feed_data(data)
            if self.parser.get_status_code() == 101 and not self.answered.done():
                self.answered.set_result(None)  # a 101 the parser did not stop at (no Upgrade header)
        except httptools.HttpParserUpgrade as exc:
            self.early = data[exc.args[0] :] if exc.args else b""
            self.answered.set_result(None)
        except httptools.HttpParserError as exc:
            self.answered.set_exception(ConnectionError(f"the substrate's answer is not HTTP: {exc}"))

    # httptools callbacks: a refusal's status and sentence
    def on_body(self, body: bytes) -> None:
        if sum(map(len, self.refusal)) < MAX_REFUSAL:
            self.refusal.append(body)

    def on_message_complete(self) -> None:
        # A 101 completes too, just before the parser stops at the upgrade (HttpParserUpgrade).
        if not self.answered.done() and self.parser.get_status_code() != 101:
            text = b"".join(self.refusal).decode(errors="replace")
            self.answered.set_result((self.parser.get_status_code(), text))

    def pause_writing(self) -> None:  # the substrate reads slower than the client sends
        if self.socket is not None:
            self.socket.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.socket is not None:
            self.socket.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_exception(ConnectionError("the substrate closed the connection"))
        elif self.socket is not None:
            self.socket.end()

    def abort(self) -> None:
        if self.upstream is not None:
            self.upstream.abort()

    # -- the client's side (a RawHandler) -------------------------------------------------------------

    def opened(self, socket: WebSocket) -> None:
        self.relays.open[self.peer_id] = self.relays.open.get(self.peer_id, 0) + 1
        self.socket = socket
        if self.early:
            socket.write(self.early)
            self.early = b""
        if self.upstream is None or self.upstream.is_closing():  # the substrate left before the client's 101
            socket.end()

    def forward(self, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.write(data)

    def received(self, socket: WebSocket, data: bytes) -> None:  # never called: `forward` takes the bytes
        raise AssertionError("a relay forwards bytes")

    def closed(self, socket: WebSocket) -> None:
        self.relays.open[self.peer_id] = max(0, self.relays.open.get(self.peer_id, 1) - 1)
        if self.upstream is not None and not self.upstream.is_closing():
            self.upstream.close()
