"""The gateway's websockets: an upgrade is taken only once a substrate has taken it, then messages are
relayed both ways, each in order (the `websockets` client towards the substrate).

The substrate chosen is the live one with the fewest open relays: every substrate copy serves every
channel (messages are forwarded between them). A substrate that refuses the upgrade gives the client
its answer (status and sentence); one that cannot be reached gives a 502.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from dream.http.websocket import MAX_MESSAGE, WebSocket, WebSocketHandler

if TYPE_CHECKING:
    from dream.http.message import Request
    from dream.node.peers import PeerInfo

OPEN_TIMEOUT = 5.0  # seconds the substrate has to take the upgrade


class Relays:
    """The gateway's `upgrade`: substrates from `substrates()` (live ones, best first)."""

    def __init__(self, substrates: Callable[[], Awaitable[list[PeerInfo]]], log: logging.Logger) -> None:
        self.substrates = substrates
        self.log = log
        self.open: dict[str, int] = {}  # peer id → relays open through it

    async def upgrade(self, request: Request) -> WebSocketHandler | tuple[int, str]:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        peers = await self.substrates()
        if not peers:
            return 503, "no substrate is running to take the websocket"
        peer = min(peers, key=lambda p: self.open.get(p.id, 0))
        target = request.raw_path.decode("latin-1") + (
            f"?{request.query.decode('latin-1')}" if request.query else ""
        )
        url = f"ws://127.0.0.1:{peer.ports['http']}{target}"
        try:
            upstream = await connect(url, open_timeout=OPEN_TIMEOUT, max_size=MAX_MESSAGE, compression=None)
        except InvalidStatus as exc:
            body = exc.response.body or b""
            return exc.response.status_code, body.decode(
                errors="replace"
            ) or f"refused by substrate {peer.id}"
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            self.log.warning("websocket relay to substrate %s failed: %s", peer.id, exc)
            return 502, f"substrate {peer.id} could not be reached for the websocket: {exc}"
        return Relay(self, peer.id, upstream)


class Relay:
    """One client's websocket, relayed to a substrate's."""

    def __init__(self, relays: Relays, peer_id: str, upstream: Any) -> None:
        self.relays = relays
        self.peer_id = peer_id
        self.upstream = upstream
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    def opened(self, socket: WebSocket) -> None:
        self.relays.open[self.peer_id] = self.relays.open.get(self.peer_id, 0) + 1
        self.tasks = [asyncio.create_task(self._down(socket)), asyncio.create_task(self._up())]

    async def _down(self, socket: WebSocket) -> None:
        """Substrate → client."""
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            async for message in self.upstream:
                socket.send(message if isinstance(message, bytes) else message.encode())
        code = self.upstream.close_code
        socket.close(code if code and code not in (1005, 1006) else 1000)

    async def _up(self) -> None:
        """Client → substrate, in order."""
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            while (data := await self.outbox.get()) is not None:
                await self.upstream.send(data)

    def received(self, socket: WebSocket, data: bytes) -> None:
        self.outbox.put_nowait(data)

    def closed(self, socket: WebSocket) -> None:
        self.relays.open[self.peer_id] = max(0, self.relays.open.get(self.peer_id, 1) - 1)
        self.outbox.put_nowait(None)
        asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self.upstream.close()
        for task in self.tasks:
            task.cancel()
