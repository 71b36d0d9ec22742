"""Websocket clients of pub-sub channels: `GET /ws-<hash>/<channel>` with `Upgrade: websocket` (the path
`getWebSocketURL` gives) on the substrate's HTTP port, or through the gateway.

The upgrade is taken when `<hash>` names a project (or one of its applications) of the universe and a
messaging channel of it with `bridges.websocket.enable: true` matches `<channel>`; otherwise it is
refused with a plain answer saying why (404: no such project; 403: the channel has no websocket).
Once connected, a client gets every message published on the channel (by functions, `dream pubsub
publish`, other clients; on any substrate copy) as a binary message, except its own; what it sends is
published on the channel, as a function's publish is (its subscribed functions run with it).
"""

from __future__ import annotations

import itertools
import logging
import re
from typing import TYPE_CHECKING

from dream.errors import DreamError
from dream.http.websocket import WebSocket, WebSocketHandler
from dream.substrate.pubsub import Message, PublishRefused, PubSub, Topic, channel_name

if TYPE_CHECKING:
    from dream.http.message import Request

_PATH = re.compile(r"/ws-(Qm[1-9A-HJ-NP-Za-km-z]{44})/(.+)")
_ids = itertools.count(1)


class ChannelSockets:
    """The substrate's `upgrade` for websocket requests."""

    def __init__(self, pubsub: PubSub, log: logging.Logger) -> None:
        self.pubsub = pubsub
        self.log = log
        self.open = 0

    async def upgrade(self, request: Request) -> WebSocketHandler | tuple[int, str]:
        found = _PATH.fullmatch(request.path)
        if found is None:
            return (
                404,
                f"no websocket at {request.path}: a channel's websocket path is /ws-<hash>/<channel>, as "
                "getWebSocketURL gives it",
            )
        bucket, channel = found.group(1), channel_name(found.group(2))
        topic = await self.pubsub.socket_topic(bucket, channel)
        if topic is None:
            return 404, f"no project of the universe has websocket bucket ws-{bucket} (see getWebSocketURL)"
        located = await self.pubsub.config(topic.project)
        if located is None or self.pubsub.messaging(located[2], topic.app, channel, websocket=True) is None:
            return (
                403,
                f"channel `{channel}` of project {topic.project} has no websocket: set "
                "`bridges.websocket.enable: true` on the messaging channel that matches it",
            )
        # The source names the client across every substrate copy: a client skips only its own messages.
        return ChannelClient(self, topic, f"websocket-{self.pubsub.me[-8:]}-{next(_ids)}")


class ChannelClient:
    """One websocket client of a channel."""

    def __init__(self, sockets: ChannelSockets, topic: Topic, source: str) -> None:
        self.sockets = sockets
        self.pubsub = sockets.pubsub
        self.topic = topic
        self.source = source
        self.socket: WebSocket | None = None

    def opened(self, socket: WebSocket) -> None:
        self.socket = socket
        self.sockets.open += 1
        self.pubsub.listeners.setdefault(self.topic, set()).add(self)
        self.sockets.log.info(
            "websocket %s (%s) joined channel `%s` of project %s",
            self.source,
            socket.peer,
            self.topic.channel,
            self.topic.project,
        )

    def send(self, message: Message) -> None:
        if self.socket is not None and message.source != self.source:
            self.socket.write(message.frame())

    def received(self, socket: WebSocket, data: bytes) -> None:
        topic = self.topic
        try:
            done = self.pubsub.publish_cached(topic, data, self.source)
        except PublishRefused as exc:
            self._refused(exc)
            return
        if done is None:  # the project's config is not known here yet
            self.pubsub.spawn(self._publish(data))

    def _refused(self, exc: PublishRefused) -> None:
        self.sockets.log.warning("websocket %s could not publish: %s", self.source, exc)
        if self.socket is not None:
            self.socket.close(1008, str(exc)[:120])

    async def _publish(self, data: bytes) -> None:
        topic = self.topic
        try:
            await self.pubsub.publish(topic.project, topic.app, topic.channel, data, self.source)
        except PublishRefused as exc:
            self._refused(exc)
        except DreamError as exc:
            self.sockets.log.warning("websocket %s could not publish: %s", self.source, exc)

    def closed(self, socket: WebSocket) -> None:
        self.sockets.open -= 1
        listeners = self.pubsub.listeners.get(self.topic)
        if listeners is not None:
            listeners.discard(self)
            if not listeners:
                del self.pubsub.listeners[self.topic]
