"""Pub-sub in the substrate: channels resolved through tns, messages run by the functions subscribed to
them, and handed to the other substrate copies (for their websocket clients and `dream pubsub tail`).

- **Channels.** A publish on channel `c` of a project (or of one of its applications) needs a messaging
  resource whose `channel.match` equals `c` (or, with `channel.regex`, finds it), at the project's
  current commit; otherwise it is refused (`PublishRefused`, errno 21 for a function).
- **Subscribers** are the project's functions with `trigger.type: pubsub` and `channel: c` in that same
  config (so a function is subscribed while its config is published, and no longer once it goes), plus
  the functions that called `setSubscriptionChannel(c)` while they are still in the config (kept in
  tns, `dream.substrate.subscriptions`, so every copy honours them, across restarts).
- **Delivery.** The substrate that accepts a publish runs every subscribed function once, each on its
  own (a function that fails is logged with the channel and the message's size; the others still run),
  and forwards the message to every other substrate copy, which give it to their websocket clients and
  keep it for `tail`. So each message is handled once per subscribed function while the nodes are up.
- **Local channels** (`local: true` on the messaging resource) are not forwarded: a message stays on
  the substrate that accepted it (its subscribed functions run there, its websocket clients and tail
  see it; the other copies' do not).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from dream.base58 import encode as base58
from dream.clients.base import ServiceError
from dream.clients.substrate import (
    PUBSUB_DELIVER,
    PUBSUB_PUBLISH,
    PUBSUB_TAIL,
    SubstrateClient,
)
from dream.errors import DreamError
from dream.http.answers import answer
from dream.http.websocket import message_frame
from dream.node.validate import NAME, STRING, Body, Field, Query, QueryInt, QueryNumber, Text
from dream.substrate.routing import Resource
from dream.substrate.subscriptions import Subscriptions
from dream.tcc import tns_keys
from dream.wasm.errors import WasmError
from dream.wasm.interrupt import CallControl
from dream.wasm.types import HttpRequest

if TYPE_CHECKING:
    from dream.substrate.resolver import Resolver
    from dream.substrate.runner import Runner
    from dream.substrate.sources import Sources

MAX_MESSAGE = 1 << 20  # bytes a published message may carry
TAIL_KEPT = 1024  # messages each substrate keeps for `dream pubsub tail`
MAX_TAIL_WAIT = 30.0  # seconds a tail long-poll may be held open
FORWARD_TIMEOUT = 5.0  # seconds a forward to another substrate copy may take
CALL_WAIT = 10.0  # seconds a function's publish waits for tns
OTHERS_TTL = 1.0  # seconds the list of the other substrate copies is trusted before it is asked again
DREAM_SOURCE = "dream"  # the source of messages published from outside functions (CLI, daemon)

_EMPTY = HttpRequest(method="", host="", path="")
_CHANNEL = Text("a channel name", empty=False, example="orders")
_B64 = Text("base64 data", example="aGVsbG8=")
_PUBLISH = Body(
    {
        "project": Field(STRING, ""),
        "app": Field(STRING, ""),
        "channel": Field(_CHANNEL),
        "data": Field(_B64),
        "source": Field(STRING, DREAM_SOURCE),
    },
    fix='send {"channel": "orders", "data": "<base64>", "project": "<id>" (optional)}',
)
_DELIVER = Body(
    {
        "project": Field(NAME),
        "app": Field(STRING, ""),
        "channel": Field(_CHANNEL),
        "data": Field(_B64),
        "source": Field(STRING, DREAM_SOURCE),
    },
)
_TAIL = Query(
    {
        "channel": Field(STRING, ""),
        "project": Field(STRING, ""),
        "after": Field(QueryInt(minimum=-1), -1),
        "wait": Field(QueryNumber(0, MAX_TAIL_WAIT), 0.0),
    }
)


class PublishRefused(DreamError):
    """A publish nothing can take: no messaging matches the channel, the message is too big, ..."""


class Topic(NamedTuple):  # a tuple: made and hashed at C speed (a key for every message)
    project: str
    app: str  # "" for the project itself
    channel: str  # without a leading "/"


@dataclass(slots=True)
class Message:
    seq: int
    topic: Topic
    data: bytes
    source: str
    at: float  # time.time() of its arrival here
    encoded: bytes | None = None  # its websocket frame, made for the first client it goes to

    def frame(self) -> bytes:
        """Its websocket frame: encoded once, whatever the number of clients it goes to."""
        if self.encoded is None:
            self.encoded = message_frame(self.data)
        return self.encoded

    def public(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "project": self.topic.project,
            "app": self.topic.app,
            "channel": self.topic.channel,
            "data": base64.b64encode(self.data).decode(),
            "source": self.source,
            "at": self.at,
        }


def channel_name(channel: str) -> str:
    return channel[1:] if channel.startswith("/") else channel


def socket_hash(project: str, app: str) -> str:
    """Upstream's websocket bucket: the sha2-256 multihash of project + application, base58 (`Qm…`)."""
    return base58(b"\x12\x20" + hashlib.sha256(f"{project}{app}".encode()).digest())


def socket_path(topic: Topic) -> str:
    """`ws-<hash>/<channel>`: the path `getWebSocketURL` gives (upstream's shape)."""
    return f"ws-{socket_hash(topic.project, topic.app)}/{topic.channel}"


def _scoped(config: dict[str, Any], app: str) -> dict[str, Any]:
    if not app:
        return config
    found = (config.get("applications") or {}).get(app)
    return found if isinstance(found, dict) else {}


def _matches(messaging: dict[str, Any], channel: str) -> bool:
    match = str(messaging.get("match") or "")
    if messaging.get("regex"):
        try:
            return re.search(match, channel) is not None
        except re.error:
            return False
    return channel_name(match) == channel


def _check_size(topic: Topic, data: bytes) -> None:
    if len(data) > MAX_MESSAGE:
        raise PublishRefused(
            f"a message of {len(data)} bytes on channel `{topic.channel}` is over the {MAX_MESSAGE} bytes a "
            "message may carry (MAX_MESSAGE); publish a reference to the data (a storage file, a database key) "
            "instead"
        )


class PubSub:
    """The channels of one substrate."""

    def __init__(
        self,
        sources: Sources,
        resolver: Resolver,
        runner: Runner,
        substrates: SubstrateClient,
        me: str,
        branches: list[str],
        log: logging.Logger,
    ) -> None:
        self.sources = sources
        self.resolver = resolver
        self.runner = runner
        self.substrates = substrates
        self.me = me
        self.branches = branches
        self.log = log
        self.loop: asyncio.AbstractEventLoop | None = None
        # (project, branch) → (tns generation read at, commit, compiled config)
        self.configs: dict[tuple[str, str], tuple[int, str, dict[str, Any]]] = {}
        self.subscriptions = Subscriptions(sources)  # setSubscriptionChannel's, as tns keeps them
        self.kept: deque[Message] = deque(maxlen=TAIL_KEPT)
        self.seq = 0
        self.arrived: asyncio.Event | None = None  # made by a waiting tail, set by the next message
        self.tasks: set[asyncio.Future[Any]] = set()
        self.published = 0
        self.delivered = 0
        self.failed = 0
        self.buckets: dict[str, tuple[str, str]] = {}  # websocket bucket hash → (project, app)
        # project → (tns generation, branch, commit, config) of its current config, as last read
        self.current: dict[str, tuple[int, str, str, dict[str, Any]]] = {}
        self.others: list[Any] | None = None  # the other substrate copies, as last listed
        self.listing: asyncio.Future[list[Any]] | None = None  # a listing of them under way
        # topic → (config, its subscribers, whether its channel is `local`), worked out once per config
        self.reaches: dict[Topic, tuple[dict[str, Any], list[tuple[str, dict[str, Any]]], bool]] = {}
        self.others_at = 0.0
        # Websocket clients by topic (`dream.substrate.websocket`): each gets every message of its topic.
        self.listeners: dict[Topic, set[Any]] = {}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def health(self) -> dict[str, Any]:
        return {"published": self.published, "delivered": self.delivered, "failed": self.failed}

    # -- what tns says -------------------------------------------------------------------------------

    async def config(self, project: str, branch: str = "") -> tuple[str, str, dict[str, Any]] | None:
        """(branch, commit, compiled config) of the project's current config, None when none is published."""
        for name in [branch] if branch else self.branches:
            cached = self.configs.get((project, name))
            if cached is not None and cached[0] == self.resolver.generation:
                if not branch:
                    self.current[project] = (cached[0], name, cached[1], cached[2])
                return name, cached[1], cached[2]
            generation = self.resolver.generation
            current = await self.sources.tns_fetch(tns_keys.current_key(project, name))
            if not (isinstance(current, dict) and current.get("current")):
                continue
            commit = str(current["current"])
            config = await self.sources.tns_fetch(tns_keys.project_prefix(name, commit, project))
            if isinstance(config, dict):
                if len(self.configs) > 256:
                    self.configs.clear()
                    self.current.clear()
                self.configs[(project, name)] = (generation, commit, config)
                if not branch:
                    self.current[project] = (generation, name, commit, config)
                return name, commit, config
        return None

    @staticmethod
    def channel_config(
        config: dict[str, Any], app: str, channel: str, *, websocket: bool = False
    ) -> dict[str, Any] | None:
        """The messaging resource of the scope that `channel` matches (the application's first, then the
        project's), None when there is none."""
        for scope in ([_scoped(config, app)] if app else []) + [config]:
            for item in (scope.get("messaging") or {}).values():
                if (
                    isinstance(item, dict)
                    and _matches(item, channel)
                    and (item.get("websocket") or not websocket)
                ):
                    return item
        return None

    @classmethod
    def messaging(
        cls, config: dict[str, Any], app: str, channel: str, *, websocket: bool = False
    ) -> str | None:
        """The name of the messaging resource `channel` matches, None when there is none."""
        item = cls.channel_config(config, app, channel, websocket=websocket)
        return None if item is None else str(item.get("name") or item.get("match"))

    def subscribers(self, config: dict[str, Any], topic: Topic) -> list[tuple[str, dict[str, Any]]]:
        """(function id, config) of the functions subscribed to `topic`."""
        functions = _scoped(config, topic.app).get("functions") or {}
        extra = self.subscriptions.of(topic.project, topic.app, topic.channel)
        found = []
        for fid, fconfig in functions.items():
            if not isinstance(fconfig, dict):
                continue
            if (
                fconfig.get("type") == "pubsub"
                and channel_name(str(fconfig.get("channel") or "")) == topic.channel
            ) or fid in extra:
                found.append((str(fid), fconfig))
        return found

    async def projects(self) -> list[str]:
        """Ids of the projects with a published config."""
        keys = await self.sources.tns_lookup("projects")
        found = []
        for key in keys:
            parts = [p for p in str(key).split("/") if p]
            if len(parts) > 1 and parts[0] == "projects" and parts[1] not in found:
                found.append(parts[1])
        return found

    async def project_id(self, wanted: str) -> str:
        """The id of the project named (or identified by) `wanted`; `wanted` itself when none is."""
        if not wanted or await self.config(wanted) is not None:
            return wanted
        for project in await self.projects():
            found = await self.config(project)
            if found is not None and found[2].get("name") == wanted:
                return project
        return wanted

    async def socket_topic(self, bucket: str, channel: str) -> Topic | None:
        """The topic of websocket path `ws-<bucket>/<channel>`: the project (or application) whose hash
        `bucket` is, None when none is."""
        found = self.buckets.get(bucket)
        if found is None:
            for project in await self.projects():
                located = await self.config(project)
                apps = list((located[2].get("applications") or {}) if located else {})
                for app in ["", *apps]:
                    self.buckets[socket_hash(project, app)] = (project, app)
            found = self.buckets.get(bucket)
        return None if found is None else Topic(found[0], found[1], channel_name(channel))

    # -- publishing ----------------------------------------------------------------------------------

    async def publish(
        self, project: str, app: str, channel: str, data: bytes, source: str, branch: str = ""
    ) -> int:
        """Deliver a message: run its subscribed functions here, keep it, forward it to the other copies.
        The number of functions it was given to; PublishRefused when nothing may take it."""
        topic = Topic(project, app, channel_name(channel))
        _check_size(topic, data)
        found = await self.config(project, branch)
        if found is None:
            raise PublishRefused(f"project `{project}` has no published config: push its config first")
        await self._read_subscriptions(project)
        return self._deliver(found, topic, data, source)

    async def _read_subscriptions(self, project: str) -> None:
        """The project's `setSubscriptionChannel` subscriptions as tns holds them now."""
        if await self.subscriptions.read(project, self.resolver.generation):
            for topic in [t for t in self.reaches if t.project == project]:
                del self.reaches[topic]

    def publish_cached(self, topic: Topic, data: bytes, source: str) -> int | None:
        """`publish` without waiting, when the project's current config is known here (a websocket
        client's messages): None when it is not (then `publish`)."""
        current = self.current.get(topic.project)
        generation = self.resolver.generation
        if (
            current is None
            or current[0] != generation
            or not self.subscriptions.current(topic.project, generation)
        ):
            return None
        _check_size(topic, data)
        return self._deliver(current[1:], topic, data, source)

    def _deliver(self, found: tuple[str, str, dict[str, Any]], topic: Topic, data: bytes, source: str) -> int:
        branch, commit, config = found
        project, app, channel = topic
        # What a topic reaches is worked out once per config (and per setSubscriptionChannel).
        known = self.reaches.get(topic)
        if known is None or known[0] is not config:
            messaging = self.channel_config(config, app, channel)
            if messaging is None:
                where = f"application `{app}` of project `{project}`" if app else f"project `{project}`"
                raise PublishRefused(
                    f"no messaging channel of {where} matches `{channel}`: add one to its config "
                    f"(messaging/<name>.yaml with `channel: {{match: {channel}}}`)"
                )
            if len(self.reaches) > 4096:
                self.reaches.clear()
            local = bool(messaging.get("local"))
            known = self.reaches[topic] = (config, self.subscribers(config, topic), local)
        subscribers, local = known[1], known[2]
        for fid, fconfig in subscribers:
            resource = Resource("functions", fid, project, branch, commit, app or None, fconfig)
            self._background(self._run(resource, topic, data))
        self.published += 1
        self.accept(topic, data, source)
        # A `local` channel's messages stay on the node they were published on (upstream: "restrict the
        # channel to the local node"): its other copies' websocket clients and tails never see them.
        # The other copies, as last listed (at most OTHERS_TTL old): none known to run, no forward task.
        if not local and (
            self.others is None or self.others or time.monotonic() - self.others_at > OTHERS_TTL
        ):
            self._background(self._forward(topic, data, source))
        # Deliveries to functions are logged one by one (`_run`); the publish itself only at debug level:
        # a chat room's every message would be a line.
        self.log.debug(
            "published a message of %d bytes on channel `%s` of project %s (from %s) to %d function(s)",
            len(data),
            channel,
            project,
            source,
            len(subscribers),
        )
        return len(subscribers)

    async def publish_anywhere(self, channel: str, data: bytes, source: str) -> list[str]:
        """Publish on `channel` in every project with a messaging channel that matches it: their ids."""
        reached = []
        for project in await self.projects():
            try:
                await self.publish(project, "", channel, data, source)
            except PublishRefused:
                continue
            reached.append(project)
        if not reached:
            raise PublishRefused(
                f"no project of the universe has a messaging channel matching `{channel_name(channel)}`: add one "
                "to a project's config (messaging/<name>.yaml), or name the project"
            )
        return reached

    async def _run(self, resource: Resource, topic: Topic, data: bytes) -> None:
        try:
            fn = await self.resolver.function(resource)
            control = CallControl(time.monotonic() + fn.timeout)
            await self.runner.run(fn, _EMPTY, control, message=(topic.channel, data))
        except (WasmError, DreamError) as exc:
            self.failed += 1
            self.log.warning(
                "pub-sub function `%s` of project %s failed on a message of %d bytes on channel `%s`: %s",
                resource.name,
                resource.project,
                len(data),
                topic.channel,
                exc,
            )
            return
        self.delivered += 1
        self.log.info(
            "delivered a message of %d bytes on channel `%s` to function `%s` of project %s",
            len(data),
            topic.channel,
            resource.name,
            resource.project,
        )

    def accept(self, topic: Topic, data: bytes, source: str) -> Message:
        """Keep a message (here or forwarded) and give it to this substrate's websocket clients."""
        self.seq += 1
        message = Message(self.seq, topic, data, source, time.time())
        self.kept.append(message)
        arrived = self.arrived
        if arrived is not None:  # a tail is waiting
            self.arrived = None
            arrived.set()
        for listener in list(self.listeners.get(topic, ())):
            listener.send(message)
        return message

    async def _other_copies(self) -> list[Any]:
        """The other substrate copies, listed at most once per OTHERS_TTL: a busy channel's messages share
        one listing (asking for each message cost most of a substrate's time under 100 clients)."""
        if self.others is not None and time.monotonic() - self.others_at <= OTHERS_TTL:
            return self.others
        if self.listing is None:
            self.listing = asyncio.ensure_future(self._list_others())
        return await asyncio.shield(self.listing)

    async def _list_others(self) -> list[Any]:
        try:
            copies = [p for p in await self.substrates.copies() if p.id != self.me]
        except DreamError as exc:
            self.log.warning("could not list the other substrates to forward a message: %s", exc)
            copies = self.others or []
        finally:
            self.listing = None
        self.others, self.others_at = copies, time.monotonic()
        return copies

    async def _forward(self, topic: Topic, data: bytes, source: str) -> None:
        copies = await self._other_copies()
        if not copies:
            return
        body = {
            "project": topic.project,
            "app": topic.app,
            "channel": topic.channel,
            "data": base64.b64encode(data).decode(),
            "source": source,
        }
        results = await asyncio.gather(
            *(self.substrates.deliver(peer, body, FORWARD_TIMEOUT) for peer in copies), return_exceptions=True
        )
        for peer, result in zip(copies, results, strict=True):
            if isinstance(result, BaseException):
                self.log.warning(
                    "could not forward a message on `%s` to substrate %s: %s", topic.channel, peer.id, result
                )

    def spawn(self, coro: Any) -> None:
        """Run `coro` in the background (its failure is logged by itself)."""
        self._background(coro)

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- from functions (worker threads) -------------------------------------------------------------

    def wait(self, coro: Any, timeout: float = CALL_WAIT) -> Any:
        """Run `coro` on the substrate's loop and wait for it (from a worker thread)."""
        if self.loop is None:
            coro.close()
            raise DreamError("the substrate is not started")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def publish_from(
        self, project: str, app: str, function: str, branch: str, channel: str, data: bytes
    ) -> str:
        """Publish for a function: "" once accepted, else why not (logged by the caller)."""
        try:
            self.wait(self.publish(project, app, channel, data, function, branch))
        except PublishRefused as exc:
            return str(exc)
        except (DreamError, TimeoutError, ServiceError) as exc:
            return f"publishing failed: {exc}"
        return ""

    def subscribe_from(self, project: str, app: str, function: str, branch: str, channel: str) -> str:
        """Subscribe a function to a channel, in tns (so every copy honours it, across restarts): "" once
        kept, else why not."""
        try:
            return str(self.wait(self._subscribe(project, app, function, branch, channel_name(channel))))
        except (DreamError, TimeoutError, ServiceError) as exc:
            return f"subscribing failed: {exc}"

    async def _subscribe(self, project: str, app: str, function: str, branch: str, channel: str) -> str:
        found = await self.config(project, branch)
        if found is None or self.messaging(found[2], app, channel) is None:
            return f"no messaging channel of project `{project}` matches `{channel}`"
        await self._read_subscriptions(project)
        if await self.subscriptions.add(project, app, channel, function):
            self.reaches.pop(Topic(project, app, channel), None)
            self.log.info("function %s of project %s subscribed to channel `%s`", function, project, channel)
        return ""

    def websocket_path(self, project: str, app: str, branch: str, channel: str) -> str | None:
        channel = channel_name(channel)
        try:
            found = self.wait(self.config(project, branch))
        except (DreamError, TimeoutError):
            return None
        if found is None or self.messaging(found[2], app, channel, websocket=True) is None:
            return None
        return socket_path(Topic(project, app, channel))

    # -- routes (other substrates, the daemon) -------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PUBSUB_PUBLISH, answer(self._publish_route), methods=["POST"]),
            Route(PUBSUB_DELIVER, answer(self._deliver_route), methods=["POST"]),
            Route(PUBSUB_TAIL, answer(self._tail_route), methods=["GET"]),
        ]

    @staticmethod
    def _data(value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise DreamError("field `data` is not base64; send the message's bytes base64-encoded") from None

    async def _publish_route(self, request: Request) -> Any:
        q = await _PUBLISH.read(request)
        data = self._data(q["data"])
        if q["project"]:
            project = await self.project_id(q["project"])
            count = await self.publish(project, q["app"], q["channel"], data, q["source"])
            return {"projects": [project], "functions": count}
        return {"projects": await self.publish_anywhere(q["channel"], data, q["source"]), "functions": None}

    async def _deliver_route(self, request: Request) -> Any:
        q = await _DELIVER.read(request)
        self.accept(
            Topic(q["project"], q["app"], channel_name(q["channel"])), self._data(q["data"]), q["source"]
        )
        return {"seq": self.seq}

    async def _tail_route(self, request: Request) -> Any:
        q = _TAIL.read(request)
        after, channel, project = q["after"], channel_name(q["channel"]), await self.project_id(q["project"])
        if after < 0:
            after = self.seq

        def wanted() -> list[dict[str, Any]]:
            return [
                m.public()
                for m in self.kept
                if m.seq > after
                and (not channel or m.topic.channel == channel)
                and (not project or m.topic.project == project)
            ]

        found = wanted()
        if not found and q["wait"] > 0:
            deadline = time.monotonic() + q["wait"]
            while not found and (left := deadline - time.monotonic()) > 0:
                if self.arrived is None:
                    self.arrived = asyncio.Event()
                try:
                    await asyncio.wait_for(self.arrived.wait(), left)
                except TimeoutError:
                    break
                found = wanted()
        return {"seq": max([after] + [m["seq"] for m in found]), "messages": found}
