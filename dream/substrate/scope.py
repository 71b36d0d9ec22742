"""The substrate's side of functions' event host calls: each function's `FunctionScope` (who it is) and
the services those calls reach (`EventServices`): the universe's own names served here, publishing to
channels (`dream.substrate.pubsub`).

Host calls run on worker threads; what needs the event loop (a route table read through tns) is handed
to it and waited for, bounded by the calling function's remaining time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import TYPE_CHECKING

from dream.settings import NETWORK_SUFFIX
from dream.substrate.routing import Resource
from dream.wasm.pubsub import PUBLISH_FAILED, SUBSCRIBE_FAILED
from dream.wasm.scope import FunctionScope

if TYPE_CHECKING:
    from dream.substrate.pubsub import PubSub
    from dream.substrate.resolver import Resolver

LOOKUP_TIMEOUT = 5.0  # seconds a host call waits for tns to say whether a name is the universe's


class Events:
    """`EventServices` of one substrate."""

    def __init__(self, resolver: Resolver, pubsub: PubSub, universe: str, log: logging.Logger) -> None:
        self.resolver = resolver
        self.pubsub = pubsub
        self.universe_suffix = f".{universe}.{NETWORK_SUFFIX}".lower()
        self.log = log
        self.loop: asyncio.AbstractEventLoop | None = None
        self.address: tuple[str, int] | None = None  # this substrate's public HTTP port

    def start(self, loop: asyncio.AbstractEventLoop, http_port: int) -> None:
        self.loop = loop
        self.address = ("127.0.0.1", http_port)

    def scope(self, resource: Resource) -> FunctionScope:
        return FunctionScope(
            project=resource.project,
            application=resource.app or "",
            resource=resource.id,
            branch=resource.branch,
            commit=resource.commit,
            services=self,
        )

    # -- EventServices -------------------------------------------------------------------------------

    def local_address(self, host: str, timeout: float) -> tuple[str, int] | None:
        host = host.lower().rstrip(".")
        if self.address is None or not host or host == "localhost":
            return None
        if host.endswith(self.universe_suffix):
            return self.address
        try:
            ipaddress.ip_address(host)
            return None  # an address is the outside world's (or the caller's own server)
        except ValueError:
            pass
        table = self.resolver.routes.get(host)
        if table is None and self.loop is not None:
            try:
                future = asyncio.run_coroutine_threadsafe(self.resolver.table(host), self.loop)
                table = future.result(max(0.001, min(timeout, LOOKUP_TIMEOUT)))
            except Exception as exc:  # tns unreachable or slow: treat it as an outside name
                self.log.debug("could not tell whether %s is the universe's: %s", host, exc)
                return None
        if table is not None and (table.functions or table.websites):
            return self.address
        return None

    def publish(self, scope: FunctionScope, channel: str, data: bytes) -> int:
        why = self.pubsub.publish_from(
            scope.project, scope.application, scope.resource, scope.branch, channel, data
        )
        if why:
            self.log.warning("function %s could not publish on `%s`: %s", scope.resource, channel, why)
            return PUBLISH_FAILED
        return 0

    def subscribe(self, scope: FunctionScope, channel: str) -> int:
        why = self.pubsub.subscribe_from(
            scope.project, scope.application, scope.resource, scope.branch, channel
        )
        if why:
            self.log.warning("function %s could not subscribe to `%s`: %s", scope.resource, channel, why)
            return SUBSCRIBE_FAILED
        return 0

    def websocket_path(self, scope: FunctionScope, channel: str) -> str | None:
        path = self.pubsub.websocket_path(scope.project, scope.application, scope.branch, channel)
        if path is None:
            self.log.warning(
                "function %s asked for the websocket of `%s`: no messaging channel of its project with "
                "`bridges.websocket.enable: true` matches it",
                scope.resource,
                channel,
            )
        return path
