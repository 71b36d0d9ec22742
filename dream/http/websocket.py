"""Websockets on dream's HTTP server: the upgrade handshake and the frames, with wsproto (sans-io).

A server built with an `upgrade` callable hands it every websocket upgrade request (`GET` with
`Upgrade: websocket`); it answers either (status, sentence), which refuses the upgrade with that plain
answer, or a `WebSocketHandler`, which gets the connection once the `101 Switching Protocols` is out:
`opened`, then `received` for each whole message (text or binary, as bytes), then `closed` once.
A `RawHandler` (a relay) gets the bytes as they come instead (`forward`) and writes whole frames back
with `WebSocket.write`. `WebSocket.send` writes a binary message; `close` ends the connection with a close code. Pings are
answered by wsproto. A message bigger than `MAX_MESSAGE` closes the connection with 1009 (message too
big). Only HTTP/1.1 `GET` upgrades with a `Sec-WebSocket-Key` are taken (RFC 6455); anything else is a
400. wsproto is imported on the first upgrade: a node that never sees one never loads it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dream.http.message import Request

MAX_MESSAGE = 1 << 20  # bytes a websocket message may carry (as a pub-sub message)

log = logging.getLogger("dream.http.websocket")


class WebSocketHandler(Protocol):
    def opened(self, socket: WebSocket) -> None:
        """The upgrade is done: the socket may send."""

    def received(self, socket: WebSocket, data: bytes) -> None:
        """A whole message from the client."""

    def closed(self, socket: WebSocket) -> None:
        """The connection is over (either side closed it, or it was lost)."""


class RawHandler(WebSocketHandler, Protocol):
    """A handler that takes the connection's bytes as they come, frames unread (a relay that forwards
    them verbatim to a server that reads them): `forward` instead of `received`."""

    def forward(self, data: bytes) -> None:
        """Bytes from the client, as they came."""


Upgrade = Callable[["Request"], Awaitable["WebSocketHandler | tuple[int, str]"]]


def handshake_problem(request: Request) -> str:
    """Why `request` is not a websocket upgrade this server can take ("" when it is)."""
    if request.method != "GET" or request.http_version != "1.1":
        return "a websocket upgrade must be an HTTP/1.1 GET"
    if not request.header(b"sec-websocket-key"):
        return "a websocket upgrade needs a Sec-WebSocket-Key header (RFC 6455)"
    version = request.header(b"sec-websocket-version")
    if version is not None and version.strip() != b"13":
        return "only websocket version 13 is spoken here (Sec-WebSocket-Version: 13)"
    return ""


_EVENTS: tuple[Any, ...] = ()


def _events() -> tuple[Any, ...]:
    """wsproto's event classes, imported once (on the first websocket), not per frame."""
    global _EVENTS
    if not _EVENTS:
        from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
        from wsproto.utilities import RemoteProtocolError

        _EVENTS = (BytesMessage, CloseConnection, Ping, TextMessage, RemoteProtocolError)
    return _EVENTS


_ENCODER: list[Any] = []


def message_frame(data: bytes) -> bytes:
    """The whole frame of a binary message from a server, encoded by wsproto once: the same bytes go to
    every client a message is for (a server's frames are not masked, so they do not differ)."""
    if not _ENCODER:
        from wsproto.frame_protocol import FrameProtocol

        # Stateless for whole messages (fin) without extensions: one encoder serves every connection.
        _ENCODER.append(FrameProtocol(client=False, extensions=[]))
    return bytes(_ENCODER[0].send_data(data, True))


class WebSocket:
    """The server side of one upgraded connection."""

    def __init__(self, transport: Any, handler: WebSocketHandler, peer: str) -> None:
        from wsproto.connection import Connection, ConnectionType

        self.transport = transport
        self.handler = handler
        self.peer = peer
        self.protocol = Connection(ConnectionType.SERVER)
        self.parts: list[bytes] = []
        self.size = 0
        self.over = False
        # A relay's handler gets the bytes unread: the server behind it reads the frames.
        self.raw: Callable[[bytes], None] | None = getattr(handler, "forward", None)

    def accept(self, request: Request, rest: bytes) -> None:
        """Answer the upgrade (101) and take the bytes that came after its head."""
        from wsproto.utilities import generate_accept_token

        key = request.header(b"sec-websocket-key") or b""
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            b"sec-websocket-accept: " + generate_accept_token(key.strip()) + b"\r\n\r\n"
        )
        self.handler.opened(self)
        if rest:
            self.receive(rest)

    def receive(self, data: bytes) -> None:
        if self.raw is not None:
            if not self.over:
                self.raw(data)
            return
        BytesMessage, CloseConnection, Ping, TextMessage, RemoteProtocolError = _events()
        if self.over:
            return
        try:
            self.protocol.receive_data(data)
            for event in self.protocol.events():
                if isinstance(event, TextMessage | BytesMessage):
                    part = event.data.encode() if isinstance(event, TextMessage) else bytes(event.data)
                    self.size += len(part)
                    if self.size > MAX_MESSAGE:
                        self.close(
                            1009, f"message over {MAX_MESSAGE} bytes (MAX_MESSAGE); send smaller messages"
                        )
                        return
                    self.parts.append(part)
                    if event.message_finished:
                        whole = b"".join(self.parts)
                        self.parts, self.size = [], 0
                        self.handler.received(self, whole)
                elif isinstance(event, Ping):
                    self.transport.write(self.protocol.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self.transport.write(self.protocol.send(event.response()))
                    self._end()
                    return
        except RemoteProtocolError as exc:
            log.info("websocket from %s broke the protocol: %s", self.peer, exc)
            self.close(1002, "protocol error")

    def send(self, data: bytes) -> None:
        """Send a binary message (dropped once the connection is closing)."""
        if self.over or self.transport.is_closing():
            return
        self.transport.write(message_frame(data))

    def write(self, frames: bytes) -> None:
        """Write bytes that are whole frames already (`message_frame`, or a relay's from its server)."""
        if not self.over and not self.transport.is_closing():
            self.transport.write(frames)

    def end(self) -> None:
        """End the connection with no close frame (a relay: the server behind it sent one, or is gone)."""
        if not self.over:
            self._end()

    def close(self, code: int = 1000, reason: str = "") -> None:
        from wsproto.events import CloseConnection

        if self.over:
            return
        if not self.transport.is_closing():
            # wsproto refuses once its state machine has closed: then just end the connection.
            with contextlib.suppress(Exception):
                self.transport.write(self.protocol.send(CloseConnection(code=code, reason=reason)))
        self._end()

    def _end(self) -> None:
        self.over = True
        self.transport.close()
        self.handler.closed(self)

    def lost(self) -> None:
        """The transport is gone."""
        if not self.over:
            self.over = True
            self.handler.closed(self)
