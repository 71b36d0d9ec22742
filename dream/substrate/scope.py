"""The substrate's side of functions' event host calls: each function's `FunctionScope` (who it is) and
the services those calls reach (`EventServices`): the universe's own names served here, publishing to
channels (`dream.substrate.pubsub`), p2p commands (`dream.substrate.p2p`), DNS (`dream.substrate.names`).

Host calls run on worker threads; what needs the event loop (a route table read through tns) is handed
to it and waited for, bounded by the calling function's remaining time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from dream.errors import DreamError
from dream.settings import NETWORK_SUFFIX
from dream.substrate import names
from dream.substrate.routing import Resource
from dream.wasm.p2p import P2P_SEND_FAILED
from dream.wasm.pubsub import PUBLISH_FAILED, SUBSCRIBE_FAILED
from dream.wasm.scope import FunctionScope

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from dream.node.peers import PeerInfo
    from dream.substrate.p2p import P2P
    from dream.substrate.pubsub import PubSub
    from dream.substrate.resolver import Resolver

LOOKUP_TIMEOUT = 5.0  # seconds a host call waits for tns to say whether a name is the universe's


class Events:
    """`EventServices` of one substrate."""

    def __init__(
        self, resolver: Resolver, pubsub: PubSub, p2p: P2P, universe: str, log: logging.Logger
    ) -> None:
        self.resolver = resolver
        self.pubsub = pubsub
        self.p2p = p2p
        self.universe_suffix = f".{universe}.{NETWORK_SUFFIX}".lower()
        self.log = log
        self.loop: asyncio.AbstractEventLoop | None = None
        self.address: tuple[str, int] | None = None  # this substrate's public HTTP port
        self.discover: Callable[[str], Awaitable[list[PeerInfo]]] | None = None  # the node's peer discovery

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

    def _config(self, scope: FunctionScope) -> dict[str, Any] | None:
        try:
            found = self.pubsub.wait(self.pubsub.config(scope.project, scope.branch))
        except (DreamError, TimeoutError) as exc:
            self.log.warning("function %s: the project's config could not be read: %s", scope.resource, exc)
            return None
        return None if found is None else found[2]

    def p2p_protocol(self, scope: FunctionScope, protocol: str) -> bool:
        config = self._config(scope)
        if config is None or self.p2p.service(config, scope.application, protocol) is None:
            self.log.warning(
                "function %s asked for p2p protocol `%s`: no service of project %s has it (services/<name>.yaml "
                "with `protocol: %s`)",
                scope.resource,
                protocol,
                scope.project,
                protocol,
            )
            return False
        return True

    def p2p_send(
        self, scope: FunctionScope, protocol: str, command: str, data: bytes, target: str, timeout: float
    ) -> tuple[int, bytes]:
        send = self.p2p.send(
            scope.project, scope.application, scope.branch, protocol, command, data, target, timeout
        )
        try:
            found: tuple[int, bytes] = self.pubsub.wait(send, max(timeout, 0.001))
        except (DreamError, TimeoutError) as exc:
            self.log.warning(
                "function %s: p2p command `%s` got no answer in time: %s", scope.resource, command, exc
            )
            return P2P_SEND_FAILED, b""
        return found

    def p2p_discover(self, scope: FunctionScope, most: int) -> list[str] | None:
        try:
            copies = self.pubsub.wait(self.pubsub.substrates.copies())
        except (DreamError, TimeoutError) as exc:
            self.log.warning("function %s: peers could not be discovered: %s", scope.resource, exc)
            return None
        return sorted(p.id for p in copies)[: max(0, most)]

    def p2p_listen(self, scope: FunctionScope, protocol: str) -> str | None:
        if not self.p2p_protocol(scope, protocol):
            return None
        return self.p2p.listen_name(scope.project, scope.application, protocol)

    def dns_lookup(
        self, scope: FunctionScope, kind: str, name: str, server: tuple[str, str] | None, timeout: float
    ) -> list[str] | None:
        timeout = min(timeout, names.LOOKUP_TIMEOUT)
        try:
            if server is not None:
                return names.query(kind, name, names.parse_server(server[0]), server[1] == "tcp", timeout)
            own = name.lower().rstrip(".")
            if own.endswith(self.universe_suffix) or (
                kind != "address" and self.local_address(own, timeout) is not None
            ):
                return names.query(kind, name, self._seer(timeout), False, timeout)
            if kind == "address":
                return names.reverse_system(name)
            return names.query(kind, name, names.system_server(), False, timeout)
        except (names.LookupFailed, ValueError, DreamError, TimeoutError) as exc:
            self.log.info("function %s: DNS %s lookup of %s failed: %s", scope.resource, kind, name, exc)
            return None

    def _seer(self, timeout: float) -> tuple[str, int]:
        """Where seer's DNS server listens."""
        if self.discover is None:
            raise DreamError("no registry to find seer in")
        found = [p for p in self.pubsub.wait(self.discover("seer"), timeout) if "dns" in p.ports]
        if not found:
            raise DreamError("no seer with a DNS port runs in the universe")
        return "127.0.0.1", int(found[0].ports["dns"])
